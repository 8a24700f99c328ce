"""The quality log: kit lots held and released, devices registered, calibrated and checked, as
one signed, hash-chained log of its own (docs/record-format.md).

Each act is signed by the operator who made it (a qa or a surgeon for a lot, an admin or a qa
for a device), with the operator registry's length at the time (whose role and key it was). A
case entry records the quality log's length when it was signed (`Entry.quality`): the holds and
devices in force for that entry are the fold of the log up to there, so that the audit re-runs
every gate from signed records alone. Pure: the services write and read the acts,
quality_checks.py verifies them.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date, datetime
from operator import itemgetter
from typing import Any

from .record import GENESIS, Signature
from .signed_act import SignedAct
from .timeutil import from_iso, local

SIGNED_PREFIX = b"bmac-quality/1\n"

LOT, DEVICE = "lot", "device"
HOLD, RELEASE = "hold", "release"  # {reason}
DEVICE_ADD = "device_add"  # {kind, calibration_due}
CALIBRATE = "calibrate"  # {calibration_due}
QC = "qc"  # {passed, note}
# Each act: what it is about, and the permission (roles.py) it needs.
ACTS: dict[str, tuple[str, str]] = {
    HOLD: (LOT, "hold_lot"),
    RELEASE: (LOT, "hold_lot"),
    DEVICE_ADD: (DEVICE, "manage_devices"),
    CALIBRATE: (DEVICE, "manage_devices"),
    QC: (DEVICE, "manage_devices"),
}


@dataclass(frozen=True)
class QualityEntry(SignedAct):
    """One act of the quality log."""

    seq: int
    action: str
    kind: str  # LOT or DEVICE
    subject: str  # the lot or the device id
    data: dict[str, Any]
    at: str  # when it happened (--at), UTC
    recorded_at: str
    signer: Signature
    registry: int  # the operator registry's length when it was signed
    prev_hash: str
    signatures: dict[str, str] | None = None

    _prefix = SIGNED_PREFIX


@dataclass(frozen=True)
class Hold:
    """A lot's hold as it stands after an act: held or released, by whom, when, why."""

    lot: str
    held: bool
    seq: int
    by: str
    at: str
    reason: str

    def describe(self) -> str:
        """The hold in a refusal's words."""
        return (
            f"lot {self.lot} is held (quality act {self.seq}, by {self.by} at "
            f"{local(self.at)}: {self.reason})"
        )


@dataclass(frozen=True)
class Device:
    """A registered device as it stands after an act."""

    id: str
    kind: str
    calibration_due: str  # a local date, YYYY-MM-DD
    added_seq: int


@dataclass(frozen=True)
class Check:
    """One QC of a device."""

    seq: int
    at: str
    passed: bool
    by: str
    note: str | None = None


# The seq of a (seq, state) change, for bisect: in C, asked at every entry the audit checks.
_seq = itemgetter(0)


def local_day(value: datetime | str) -> date:
    """The clinic's local day of a time (the zone every local time is shown in)."""
    if isinstance(value, str):
        value = from_iso(value)
    return value.astimezone().date()


@dataclass
class Quality:
    """The quality log's state: each lot's and device's history by seq, and the QCs by day."""

    length: int = 0
    head: str = GENESIS
    lots: dict[str, list[tuple[int, Hold]]] = field(default_factory=dict)
    devices: dict[str, list[tuple[int, Device]]] = field(default_factory=dict)
    checks: dict[tuple[str, date], list[Check]] = field(default_factory=dict)

    def hold(self, lot: str, position: int | None = None) -> Hold | None:
        """The lot's hold in force once the log held `position` acts (default: now), if held."""
        found = _at(self.lots.get(lot), self.length if position is None else position)
        return found if found is not None and found.held else None

    def device(self, device_id: str, position: int | None = None) -> Device | None:
        """The device as registered once the log held `position` acts, or None."""
        found: Device | None = _at(
            self.devices.get(device_id), self.length if position is None else position
        )
        return found

    def last_check(self, device_id: str, when: datetime, position: int | None) -> Check | None:
        """The device's latest QC on `when`'s local day, at or before `when`, among the first
        `position` acts."""
        upto = self.length if position is None else position
        day = [
            c
            for c in self.checks.get((device_id, local_day(when)), [])
            if c.seq <= upto and from_iso(c.at) <= when
        ]
        return max(day, key=lambda c: (c.at, c.seq)) if day else None

    def held_lots(self) -> list[Hold]:
        """Every lot held now, by lot."""
        return [h for lot in sorted(self.lots) if (h := self.hold(lot)) is not None]

    def device_list(self) -> list[Device]:
        """Every registered device as it stands, by id."""
        return [d for i in sorted(self.devices) if (d := self.device(i)) is not None]

    def checks_of(self, device_id: str) -> list[Check]:
        """Every QC of a device, in the log's order."""
        found = [c for (d, _), cs in self.checks.items() if d == device_id for c in cs]
        return sorted(found, key=lambda c: c.seq)


def _at(changes: list[tuple[int, Any]] | None, upto: int) -> Any:
    if not changes:
        return None
    index = bisect_right(changes, upto, key=_seq) - 1
    return changes[index][1] if index >= 0 else None


def apply(quality: Quality, entry: QualityEntry, entry_hash: str) -> None:
    """Fold one act into the state (its signature and authority are quality_checks.py's)."""
    quality.length, quality.head = max(quality.length, entry.seq), entry_hash
    data, subject = entry.data, entry.subject
    if entry.action in (HOLD, RELEASE):
        hold = Hold(
            subject, entry.action == HOLD, entry.seq, entry.signer.id, entry.at, data["reason"]
        )
        quality.lots.setdefault(subject, []).append((entry.seq, hold))
    elif entry.action == DEVICE_ADD:
        device = Device(subject, data["kind"], data["calibration_due"], entry.seq)
        quality.devices.setdefault(subject, []).append((entry.seq, device))
    elif entry.action == CALIBRATE:
        before = quality.device(subject, entry.seq)
        if before is not None:
            changed = Device(before.id, before.kind, data["calibration_due"], before.added_seq)
            quality.devices[subject].append((entry.seq, changed))
    elif entry.action == QC:
        check = Check(entry.seq, entry.at, bool(data["passed"]), entry.signer.id, data.get("note"))
        quality.checks.setdefault((subject, local_day(entry.at)), []).append(check)


def fold(entries: list[tuple[QualityEntry, str]]) -> Quality:
    """The state of the acts given (all of them, or only those about some lots and devices)."""
    quality = Quality()
    for entry, entry_hash in entries:
        apply(quality, entry, entry_hash)
    return quality
