"""The registry as the services read and extend it: loaded and verified before anyone signs,
and each act appended signed, in the command's unit of work."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import keys
from ..errors import RecordAltered
from ..operators import SignInLimits
from ..record import GENESIS, Signature
from ..registry import Registry, RegistryEntry
from ..registry_checks import check_registry
from ..settings import in_force

if TYPE_CHECKING:
    from ..store.unit_of_work import UnitOfWork


class Signer:
    """Who signs an act: their signature's fields and their signing key (kept in memory)."""

    def __init__(self, signature: Signature, seed: bytes, key: Any = None) -> None:
        self.signature = signature
        self._seed = seed
        self._key = key  # the seed's signing key, when the caller keeps one (keys.signing_key)

    def sign(self, content: bytes) -> str:
        """The Ed25519 signature of `content` (base64)."""
        if self._key is None:
            self._key = keys.signing_key(self._seed)
        return keys.sign_with(self._key, content)


def load_registry(uow: UnitOfWork) -> Registry:
    """The registry as it stands, its chain and every signature checked: nobody signs, and no
    role or protocol is taken from it, when it does not verify (exit 8)."""
    registry, problems = check_registry(uow.repo.registry_rows())
    if problems:
        raise RecordAltered(
            f"the operator registry does not verify ({problems[0].what}): nothing can be "
            "signed until `bmac audit verify` is run and the record restored"
        )
    return registry


def limits(registry: Registry) -> SignInLimits:
    """The sign-in limits in force (site settings, within their bounds)."""
    values = in_force(registry.settings)
    return SignInLimits(values["max_failed_pins"], values["lock_minutes"])


def append_act(
    uow: UnitOfWork, signer: Signer | None, action: str, subject: str, data: dict[str, Any], at: str
) -> RegistryEntry:
    """Append one act to the registry, after its head as it is now, signed by `signer`."""
    rows = uow.repo.registry_rows()
    seq, head = (rows[-1][0], rows[-1][2]) if rows else (0, GENESIS)
    entry = RegistryEntry(
        seq=seq + 1,
        action=action,
        subject=subject,
        data=data,
        recorded_at=at,
        signer=signer.signature if signer else None,
        prev_hash=head,
    )
    if signer is not None:
        entry = RegistryEntry(
            **{**entry.__dict__, "signatures": {"signer": signer.sign(entry.content())}}
        )
    uow.repo.append_registry(entry)
    return entry
