"""The quality gates of a step, pure: a held kit lot, a device out of calibration or without a
passed QC today, an unregistered device where the protocol wants registered ones, and a case
closed with deviations open. The services and the audit's re-run both call `gate` after the
step's own `prepare` (facts.py), on the quality log as it stood for the entry.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from .guards import LOT_NOT_HELD, NO_OPEN_DEVIATION, Request
from .quality import Quality, local_day

if TYPE_CHECKING:
    from .facts import Attempt
    from .steps import Step

REQUIRE_REGISTERED = "devices.require_registered_devices"


class Gates(NamedTuple):
    """What the gates of one step decide on: the quality log's state (all of it, or only the
    acts about the lots and devices concerned) and its length when the entry is signed, the
    lots the case used before, and its deviations still open (their labels). A named tuple:
    the audit builds one for every entry it re-runs."""

    quality: Quality
    position: int
    case_lots: frozenset[str] = frozenset()
    open_deviations: tuple[str, ...] = ()


def materials(step: Step, data: Any) -> list[tuple[str, str]]:
    """The (kind, reference) of each kit lot and device `data` of `step` names."""
    return [(kind, str(data[name])) for name, kind in step.material_fields if data.get(name)]


def device_problem(
    quality: Quality, device_id: str, position: int, when: datetime, require_registered: bool
) -> tuple[bool, str | None]:
    """Whether the device is registered, and what keeps it from use at `when` (or None)."""
    device = quality.device(device_id, position)
    if device is None:
        if require_registered:
            return False, (
                f"device {device_id} is not registered and the protocol requires registered "
                "devices (`bmac device add`)"
            )
        return False, None
    day = local_day(when)
    if day.isoformat() > device.calibration_due:
        return True, (
            f"device {device_id} was due for calibration on {device.calibration_due} "
            "(`bmac device calibrate`)"
        )
    check = quality.last_check(device_id, when, position)
    if check is None:
        return True, f"device {device_id} has no QC on {day} (`bmac device qc ID --passed`)"
    if not check.passed:
        return True, f"device {device_id} failed its last QC on {day} (quality act {check.seq})"
    return True, None


def gate(
    step: Step, attempt: Attempt, added: dict[str, Any], request: Request
) -> tuple[dict[str, Any], Request]:
    """The step's prepared record and request with the quality gates' facts."""
    gates = attempt.gates
    if gates is None or not step.gated:
        return added, request
    found = materials(step, attempt.data)
    changes: dict[str, Any] = {}
    if LOT_NOT_HELD.name in step.guard_names:
        lots = {ref for kind, ref in found if kind == "lot"} | gates.case_lots
        for lot in sorted(lots):
            hold = gates.quality.hold(lot, gates.position)
            if hold is not None:
                changes["held_lot"] = hold.describe()
                break
    devices = [ref for kind, ref in found if kind == "device"]
    if devices:
        require = bool(attempt.protocol.settings.get(REQUIRE_REGISTERED, False))
        override = attempt.data.get("override_reason")
        added = {**added, "device_registered": True, "overridden": False}
        problems = []
        for device in devices:
            registered, problem = device_problem(
                gates.quality, device, gates.position, attempt.clinical, require
            )
            added["device_registered"] = added["device_registered"] and registered
            if problem:
                problems.append(problem)
        if problems:
            added["device_problem"] = "; ".join(problems)
            added["overridden"] = bool(override)
            changes["device_problem"] = added["device_problem"]
        changes["override_reason"] = override
    if NO_OPEN_DEVIATION.name in step.guard_names:
        changes["open_deviations"] = gates.open_deviations
    return added, request._replace(**changes) if changes else request


def entry_materials(step: Step | None, entry: Any, data: Any) -> list[tuple[Any, ...]]:
    """(case, seq, kind, reference, action, at) of each lot and device an entry's `data` names."""
    if step is None:
        return []
    return [
        (entry.case_id, entry.seq, kind, ref, entry.action, entry.at)
        for kind, ref in materials(step, data)
    ]


def case_materials(entries: list[Any]) -> set[tuple[Any, ...]]:
    """Every lot and device a case's steps used, from its log as corrected (the audit, and a
    correction that changes one)."""
    from .record import effective_data
    from .states import workflow

    by_trigger = workflow().by_trigger
    steps = [(entry, by_trigger.get(entry.action)) for entry in entries]
    named = [(e, step) for e, step in steps if step is not None and step.material_fields]
    if not named:
        return set()
    # Corrections change what an entry named: read each entry's data as corrected (the audit
    # asks of every case; most have no correction, and their data is read as it is).
    corrected = any(entry.action == "correct" for entry in entries)
    data = effective_data(entries) if corrected else {e.seq: e.data for e, _ in named}
    return {row for entry, step in named for row in entry_materials(step, entry, data[entry.seq])}
