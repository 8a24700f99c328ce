"""The audit's check of who signed one entry, pure: each signature against the key the operator
registry gave its signer at the entry's registry position, and the signer's role then (which
the re-run of the rules decides on, rerun.py)."""

from __future__ import annotations

from . import keys
from .record import SIGNED_PREFIX, Entry, Signature
from .registry import Holder, Registry


def signature_problems(
    entry: Entry, body: str | None, registry: Registry, seen: int
) -> tuple[list[str], str, int]:
    """What is wrong with who signed the entry; the signer's role then; the registry seq."""
    if entry.signatures is None:
        if registry.legacy_seal is not None:
            # Signed before keys: the migration sealed them (services/verification.py checks
            # they are those it sealed, and that they come first in their case).
            return [], entry.signer.role, seen
        return ["entry is not signed"], entry.signer.role, seen
    position = entry.registry
    if position is None or not seen <= position <= registry.length:
        return ["entry names no registry position it could have been signed at"], "", seen
    content = (content_of_body(body) if body is not None else None) or entry.content()
    made = entry.signatures
    whys: list[str] = []
    signer = entry.signer
    holder = registry.at(signer.id, position)
    why = _holder_problem(signer, holder)
    if why is None and not keys.verifies(signer.key or "", content, made.get("signer", "")):
        why = f"the signer's signature ({signer.id}) does not verify: altered or forged"
    role = holder.role if why is None and holder is not None else ""
    if why:
        whys.append(why)
    verifier = entry.verifier
    if verifier is not None:
        why = _holder_problem(verifier, registry.at(verifier.id, position))
        if why is None and not keys.verifies(verifier.key or "", content, made.get("verifier", "")):
            why = f"the verifier's signature ({verifier.id}) does not verify: altered or forged"
        if why:
            whys.append(why)
    return whys, role, position


def content_of_body(body: str) -> bytes | None:
    """An entry's `content()` cut from its stored canonical text (None without signatures),
    not serialised again: the audit checks every signature of the record. Keys are sorted, so
    the top-level member is the last `,"signatures":{` (quotes inside strings are escaped); its
    value is base64 only; nothing signed holds one. A cut that is not what was signed (a body
    not in canonical form, say) does not verify."""
    start = body.rfind(',"signatures":{')
    end = body.find("}", start)
    if start < 0 or end < 0:
        return None
    return SIGNED_PREFIX + (body[:start] + body[end + 1 :]).encode("utf-8")


def _holder_problem(signature: Signature, holder: Holder | None) -> str | None:
    if holder is None or not holder.active:
        return f"{signature.id} was no active operator when the entry was signed"
    if holder.key is None or holder.key != signature.key:
        return f"signed with a key that was not {signature.id}'s"
    if holder.role != signature.role:
        return f"{signature.id} signed as {signature.role} but was {holder.role} then"
    return None
