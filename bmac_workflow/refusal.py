"""The refusals log: a step the workflow refused on one of its guards (an injection out of its
window, with another specimen or knee, or without a second person) is kept as a signed,
hash-chained refusal of its case. A refusal never moves the case; the audit checks each case's
chain of refusals and every signature (`problems`). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import keys
from .record import GENESIS, Signature, digest
from .signed_act import SignedAct

if TYPE_CHECKING:
    from .registry import Registry

# What a refusal's signature signs: this prefix, then its canonical JSON without signatures;
# the prefix keeps a refusal's signature from passing as an entry's (record.SIGNED_PREFIX).
SIGNED_PREFIX = b"bmac-refusal/1\n"


@dataclass(frozen=True)
class Refusal(SignedAct):
    """One refused attempt: which step, from which state (the case stayed there) after which
    entry, the guard (`rule`) and its message, when, who tried it and the data they gave."""

    case_id: int
    seq: int
    action: str
    state: str
    after: int  # the case's entry count (version) when it was refused
    rule: str
    message: str
    at: str
    recorded_at: str
    signer: Signature
    data: dict[str, Any]
    prev_hash: str
    registry: int
    signatures: dict[str, str] | None = None

    _prefix = SIGNED_PREFIX


def problems(
    case_id: int, rows: list[tuple[int, str, str]], registry: Registry, entry_count: int | None
) -> list[tuple[int, str]]:
    """(seq, what is wrong) for a case's refusals as stored, (seq, body, hash), oldest first:
    the chain (numbered from 1, each linking the one before), each body's hash, what it says of
    itself, and its signer's signature with the key the registry held for them then."""
    found: list[tuple[int, str]] = []
    prev = GENESIS
    for index, (seq, body, stored_hash) in enumerate(rows, start=1):
        if seq != index:
            found.append((seq, f"refusal {index} is missing (removed?)"))
        if digest(body) != stored_hash:
            found.append((seq, "its hash does not match its content: altered"))
        try:
            refusal = Refusal.from_body(body)
        except (ValueError, TypeError, KeyError):
            found.append((seq, "its content is no refusal"))
            prev = stored_hash
            continue
        if refusal.prev_hash != prev:
            found.append((seq, "it does not link to the refusal before it (removed or reordered)"))
        if (refusal.case_id, refusal.seq) != (case_id, seq):
            found.append((seq, "it names another case or place than where it is stored"))
        if entry_count is not None and not 0 < refusal.after <= entry_count:
            found.append((seq, f"it follows entry {refusal.after}, which the case does not hold"))
        why = _signature_problem(refusal, registry)
        if why:
            found.append((seq, why))
        prev = stored_hash
    return found


def _signature_problem(refusal: Refusal, registry: Registry) -> str | None:
    signer = refusal.signer
    if not 0 < refusal.registry <= registry.length:
        return "it names no registry position it could have been signed at"
    holder = registry.at(signer.id, refusal.registry)
    if holder is None or holder.key is None or holder.key != signer.key:
        return f"signed with a key that was not {signer.id}'s"
    if holder.role != signer.role:
        return f"{signer.id} signed as {signer.role} but was {holder.role} then"
    made = (refusal.signatures or {}).get("signer", "")
    if not keys.verifies(signer.key, refusal.content(), made):
        return f"the signature ({signer.id}) does not verify: altered or forged"
    return None
