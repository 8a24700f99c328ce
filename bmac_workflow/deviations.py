"""Deviations, pure: every override opens one, linked to the entry that made it, and it stays
open until a signed closing entry in the same case gives its root cause and corrective action.

A deviation is not a row of its own in the record: the override's entry opens it and a
`close_deviation` entry of the case closes it, so that both are signed and hash-chained with the
case (docs/record-format.md). The `deviations` table is a cache of this replay that the audit
checks. Entries signed before the quality log existed (no `quality` position) open none.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from .record import Entry

CLOSE_DEVIATION = "close_deviation"  # the action of the entry that closes one
# What the override was about, by the trigger that made it (a device's is told by its data).
KIND_OF = {"assess": "candidacy", "inject": "window"}
DEVICE, LATE = "device", "late entry"


def opened_by(entry: Entry) -> str | None:
    """The kind of deviation `entry` opens, or None: an override (candidacy, window, device),
    or an entry logged late with its reason (`--late-reason`, lateness.py). Entries signed
    before the quality log (no `quality` position) open none."""
    if entry.action == CLOSE_DEVIATION:
        return None
    data = entry.data
    if entry.quality is None:
        return None
    if data.get("overridden"):
        return DEVICE if "device_problem" in data else KIND_OF.get(entry.action, "override")
    if entry.late_reason:  # a late entry: every one opens a deviation
        return LATE
    return None


@dataclass(frozen=True)
class Deviation:
    """One deviation of a case: the entry that opened it, and the one that closed it."""

    case_id: int
    seq: int
    kind: str
    opened_at: str
    opened_by: str
    why: str | None
    closed_seq: int | None = None
    closed_at: str | None = None
    closed_by: str | None = None
    root_cause: str | None = None
    corrective_action: str | None = None

    @property
    def open(self) -> bool:
        return self.closed_seq is None

    def label(self, number: int | None = None) -> str:
        """How a refusal names it: `#N` (its number), its kind and the entry that opened it."""
        return label(number, self.kind, self.seq)

    def plain(self) -> dict[str, Any]:
        """The deviation as JSON data (without its number)."""
        return {**self.__dict__, "open": self.open}


def label(number: int | None, kind: str, seq: int) -> str:
    """`#N (device, entry 5)`: a deviation as a refusal names it."""
    return (f"#{number} " if number is not None else "") + f"({kind}, entry {seq})"


def _why(entry: Entry) -> str | None:
    reason = entry.data.get("override_reason") or entry.late_reason
    return str(reason) if reason is not None else None


def step(found: dict[int, Deviation], entry: Entry) -> None:
    """Fold one entry into the case's deviations (by the seq that opened each)."""
    kind = opened_by(entry)
    if kind is not None:
        found[entry.seq] = Deviation(
            entry.case_id, entry.seq, kind, entry.at, entry.signer.id, _why(entry)
        )
    elif entry.action == CLOSE_DEVIATION:
        target = found.get(entry.data.get("deviation", 0))
        if target is not None and target.open:
            found[target.seq] = replace(
                target,
                closed_seq=entry.seq,
                closed_at=entry.at,
                closed_by=entry.signer.id,
                root_cause=entry.data.get("root_cause"),
                corrective_action=entry.data.get("corrective_action"),
            )


def replay(entries: Iterable[Entry]) -> list[Deviation]:
    """Every deviation of a case from its log, in the order they were opened."""
    found: dict[int, Deviation] = {}
    for entry in entries:
        step(found, entry)
    return [found[seq] for seq in sorted(found)]


def closing_problems(
    entry: Entry, role: str, state: str | None, found: dict[int, Deviation]
) -> list[str]:
    """What is wrong with a closing entry, taken by `role` on the deviations open before it."""
    from .roles import allowed_roles

    whys = []
    if entry.from_state != state or entry.to_state != state:
        whys.append("closing a deviation leaves the case where it was")
    target = found.get(entry.data.get("deviation", 0))
    if target is None or not target.open:
        whys.append("the closing entry points at no open deviation of the case")
    elif target.opened_by == entry.signer.id:
        whys.append(f"{entry.signer.id} closed the deviation their own override opened")
    if role and role not in allowed_roles(CLOSE_DEVIATION):
        whys.append(f"a {role} may not close a deviation")
    if not entry.data.get("root_cause") or not entry.data.get("corrective_action"):
        whys.append("a deviation is closed with its root cause and corrective action")
    return whys
