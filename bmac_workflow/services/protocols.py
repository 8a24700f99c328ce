"""The clinic's protocols: an admin activates a version (a signed act of the registry); new
cases open under the active one, or under another activated version named with --protocol."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import BmacError, NotFound, NotPermitted
from ..protocol import DEFAULTS, Protocol, default_ranges
from ..record import Meaning
from ..registry import PROTOCOL, PROTOCOL_MIGRATED, Registry, RegistryEntry
from ..roles import check_permitted
from ..timeutil import iso
from .recording import Clock
from .registry import append_act, load_registry
from .signing import Credentials, record, record_alone, sign_in

if TYPE_CHECKING:
    from ..store.database import Database
    from ..store.unit_of_work import UnitOfWork

# What `--protocol` names: a protocol file (parsed), an activated version, or the active one.
Choice = Protocol | str | None


def activate(protocol: Protocol, by: Credentials, clock: Clock, db: Database) -> bool:
    """Activate `protocol` for new cases (admin; signed); False if it was active already."""
    signed = sign_in(by, clock(), db)
    now = clock()
    try:
        check_permitted("activate_protocol", signed.holder.role)
        if signed.registry.active_protocol == protocol.sha256:
            return False
        with db.write() as uow:
            record(signed, now, uow)
            uow.repo.protocol_id(protocol, iso(now))
            data = {"version": protocol.version, "sha256": protocol.sha256}
            signer = signed.signer(Meaning.APPROVED)
            append_act(uow, signer, PROTOCOL, protocol.sha256, data, iso(now))
            uow.commit()
        return True
    except BmacError:
        record_alone(signed, now, db)
        raise


def chosen(choice: Choice, registry: Registry, uow: UnitOfWork) -> Protocol:
    """The activated protocol `choice` names (6 when it names one no admin activated)."""
    if choice is None:
        sha = registry.active_protocol
        if sha is None:
            raise NotPermitted(
                "no protocol is activated for new cases: an admin runs `bmac protocol activate "
                "FILE`"
            )
    elif isinstance(choice, str):
        found = [s for s, version in registry.protocols.items() if version == choice]
        if not found:
            raise NotPermitted(
                f"protocol version {choice!r} was never activated: `bmac protocol list` shows "
                "those that were; an admin runs `bmac protocol activate FILE`"
            )
        sha = found[-1]
    else:
        if choice.sha256 not in registry.protocols:
            raise NotPermitted(
                f"the protocol file {choice.version!r} (sha256 {choice.sha256[:12]}...) is not "
                "activated: an admin runs `bmac protocol activate FILE` first"
            )
        sha = choice.sha256
    protocol = uow.repo.protocol_by_sha256(sha)
    if protocol is None:
        raise NotFound(f"the activated protocol {sha[:12]}... is missing from the database")
    return protocol


def listing(db: Database) -> list[dict[str, Any]]:
    """Every activated version, oldest first: when, by whom, and which one is in force."""
    with db.read() as uow:
        registry = load_registry(uow)
        rows = uow.repo.registry_rows()
    found = []
    for _, body, _ in rows:
        entry = RegistryEntry.from_body(body)
        if entry.action in (PROTOCOL, PROTOCOL_MIGRATED):
            found.append(
                {
                    "version": entry.data["version"],
                    "sha256": entry.subject,
                    "activated_at": entry.recorded_at,
                    "by": entry.signer.id if entry.signer else None,
                    "active": False,
                }
            )
    last = [r for r in found if r["sha256"] == registry.active_protocol]
    if last:
        last[-1]["active"] = True
    return found


def show(version: str | None, db: Database) -> dict[str, Any]:
    """Every value of a protocol (the active one by default): the file's and the defaults."""
    with db.read() as uow:
        registry = load_registry(uow)
        protocol = chosen(version, registry, uow)
    values: dict[str, Any] = {}
    for key in DEFAULTS:
        values[key] = {"value": protocol.setting(key), "default": key in protocol.defaulted}
    for name in default_ranges():
        values[f"ranges.{name}"] = {
            "value": list(protocol.range(name)),
            "default": name not in protocol.ranges,
        }
    return {
        "version": protocol.version,
        "sha256": protocol.sha256,
        "values": values,
        "content": protocol.content,
    }
