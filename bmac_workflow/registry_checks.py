"""The audit of the operator registry, pure: its hash chain, and for every act that the one who
signed it held a key that was theirs and the authority to do it, and that the signature is
theirs. What it gives back is the registry as it stands, for the rest of the audit.
"""

from __future__ import annotations

from collections.abc import Iterable

from . import keys
from .checks import RECORD, Problem
from .log_chain import chained
from .registry import (
    ADD,
    KEY,
    PIN_CHANGED,
    SELF_SIGNED,
    UNSIGNED,
    Registry,
    RegistryEntry,
    apply,
)
from .roles import ADMIN, ROLES

# The audit's "case" for a problem of the registry.
REGISTRY = RECORD


def _problem(seq: int, what: str) -> Problem:
    return Problem(REGISTRY, seq, f"operator registry: {what}")


def check_registry(rows: Iterable[tuple[int, str, str]]) -> tuple[Registry, list[Problem]]:
    """The registry folded from its stored rows (seq, body, hash), and every problem in them.

    An entry that fails a check is reported and still folded, so that the audit goes on with
    what the record claims (and reports what follows from it too).
    """
    registry = Registry()
    problems: list[Problem] = []
    signed_yet = False
    read = RegistryEntry.from_body
    for (seq, _, stored), entry in chained(rows, read, "entry", _problem, problems):
        why = _authority(registry, entry, signed_yet)
        if why:
            problems.append(_problem(seq, why))
        signed_yet = signed_yet or entry.action not in UNSIGNED
        apply(registry, entry, stored)
    return registry, problems


def _authority(registry: Registry, entry: RegistryEntry, signed_yet: bool) -> str | None:
    """Why `entry` may not stand, or None: who signed it may do it, with their own key."""
    signer, action = entry.signer, entry.action
    if action in UNSIGNED:
        return "an unsigned entry after the first signed one" if signed_yet else None
    if signer is None or signer.key is None or not entry.signatures:
        return f"{action} of {entry.subject} is not signed"
    if not keys.verifies(signer.key, entry.content(), entry.signatures.get("signer", "")):
        return f"{action} of {entry.subject}: the signature of {signer.id} does not verify"
    holder = registry.now(signer.id)
    if action == ADD and registry.root_key is None:
        # The clinic's first admin: their own key signs their addition, and becomes the root.
        ok = (
            signer.id == entry.subject
            and entry.data.get("role") == ADMIN
            and entry.data.get("public_key") == signer.key
        )
        return None if ok else "the first operator must be an admin who signs their own addition"
    if action in SELF_SIGNED:
        return _self_signed(registry, entry)
    if holder is None or not holder.active or holder.role != ADMIN:
        return f"{action} of {entry.subject} was signed by {signer.id}, who is no active admin"
    if holder.key != signer.key or signer.role != holder.role:
        return f"{action} of {entry.subject}: {signer.id} signed with a key or role not theirs"
    if action == ADD and (
        registry.now(entry.subject) is not None or entry.data.get("role") not in ROLES
    ):
        return f"add of {entry.subject}: an operator of that id exists, or the role is unknown"
    return None


def _self_signed(registry: Registry, entry: RegistryEntry) -> str | None:
    """A key taken by an operator who had none, or a PIN changed: the operator's own act."""
    signer = entry.signer
    assert signer is not None
    holder = registry.now(entry.subject)
    if holder is None or signer.id != entry.subject or not holder.active:
        return f"{entry.action} of {entry.subject} is not signed by that active operator"
    if entry.action == KEY:
        ok = holder.key is None and entry.data.get("public_key") == signer.key
        return None if ok else f"key of {entry.subject}: only an operator without a key takes one"
    if entry.action == PIN_CHANGED and holder.key != signer.key:
        return f"pin_changed of {entry.subject}: signed with a key that is not theirs"
    return None
