"""The audit of the quality log, pure: its hash chain, and for every act that its signer was an
active operator with that key and a role allowed to make it (in the operator registry at the
position the act names), that the signature verifies, and that the act fits the state before
it. What it gives back is the log's state, for the re-run of every case's gates (rerun.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from . import keys
from .checks import RECORD, Problem
from .log_chain import chained
from .quality import ACTS, CALIBRATE, DEVICE_ADD, HOLD, QC, RELEASE, Quality, QualityEntry, apply
from .registry import Registry
from .roles import allowed_roles


def _problem(seq: int, what: str) -> Problem:
    return Problem(RECORD, seq, f"quality log: {what}")


def check_quality(
    rows: Iterable[tuple[int, str, str, str, str]], registry: Registry
) -> tuple[Quality, list[Problem]]:
    """The quality log folded from its stored rows (seq, kind, subject, body, hash), and every
    problem in them. An act that fails a check is reported and still folded."""
    quality = Quality()
    problems: list[Problem] = []
    read = QualityEntry.from_body
    for (seq, kind, subject, _, stored), entry in chained(rows, read, "act", _problem, problems):
        if (entry.kind, entry.subject) != (kind, subject):
            problems.append(_problem(seq, f"the row is filed under {kind} {subject!r}, the act "
                                     f"is about {entry.kind} {entry.subject!r}"))  # fmt: skip
        why = authority(entry, registry) or fits(entry, quality)
        if why:
            problems.append(_problem(seq, why))
        try:
            apply(quality, entry, stored)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            problems.append(_problem(seq, f"act does not fold ({type(exc).__name__}: {exc})"))
    return quality, problems


def authority(entry: QualityEntry, registry: Registry) -> str | None:
    """Why the signer could not make the act, or None."""
    what = f"{entry.action} of {entry.subject}"
    if entry.action not in ACTS or ACTS[entry.action][0] != entry.kind:
        return f"{what}: no such act"
    signer = entry.signer
    if not entry.signatures or signer.key is None:
        return f"{what} is not signed"
    if not keys.verifies(signer.key, entry.content(), entry.signatures.get("signer", "")):
        return f"{what}: the signature of {signer.id} does not verify"
    if not isinstance(entry.registry, int) or not 0 < entry.registry <= registry.length:
        return f"{what} names no registry position it could have been signed at"
    holder = registry.at(signer.id, entry.registry)
    if holder is None or not holder.active or holder.key != signer.key:
        return f"{what} was signed by {signer.id} with a key that was not theirs"
    if holder.role != signer.role or holder.role not in allowed_roles(ACTS[entry.action][1]):
        return f"{what} was signed by {signer.id}, a {holder.role}, who may not do it"
    return None


def fits(entry: QualityEntry, quality: Quality) -> str | None:
    """Why the act does not fit the state the acts before it left, or None."""
    subject, action = entry.subject, entry.action
    if action == HOLD and quality.hold(subject) is not None:
        return f"lot {subject} was held already"
    if action == RELEASE and quality.hold(subject) is None:
        return f"lot {subject} was not held"
    if action == DEVICE_ADD and quality.device(subject) is not None:
        return f"device {subject} was registered already"
    if action in (CALIBRATE, QC) and quality.device(subject) is None:
        return f"device {subject} is not registered"
    return None
