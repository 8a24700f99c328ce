"""Reading use cases: status, list, timeline, follow-up visits due. They write nothing."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from .. import keys, rules
from ..errors import NotFound
from ..protocol import Protocol
from ..record import CaseSnapshot, Entry, Signature
from ..refusal import Refusal
from ..states import FOLLOW_UP, workflow
from ..timeutil import LocalDays, from_iso, iso

if TYPE_CHECKING:
    from ..store.database import Database
    from ..store.unit_of_work import UnitOfWork


def status_of(case: CaseSnapshot, protocol: Protocol, now: datetime) -> dict[str, Any]:
    """Where a case stands, as the `status --json` object."""
    flow = workflow()
    step = flow.next_step(case.state)
    status: dict[str, Any] = {
        "case_id": case.case_id,
        "patient_ref": case.patient_ref,
        "knee": case.knee,
        "state": case.state,
        "next_step": step,
        "next_command": f"{flow.command(step)} {case.case_id}" if step else None,
        "insurance_eligible": case.insurance_eligible,
        "insurance_basis": case.insurance_basis,
        "assessment": case.assessment,
        "override_reason": case.override_reason,
        "baseline_vas": case.baseline_vas,
        "protocol_version": case.protocol_version,
        "protocol_defaults": list(protocol.defaulted),
        "opened_at": case.opened_at,
        "updated_at": case.updated_at,
        "entries": case.version,
        "specimen_id": case.specimen_id,
        "harvested_at": case.harvested_at,
        "injected_at": case.injected_at,
        "volumes_ml": case.volumes_ml,
        "concentration_factor": case.concentration_factor,
        "window_minutes": protocol.window_minutes,
        "window_minutes_left": None,
        "window_closes_at": None,
        "visits_recorded": list(case.visits),
        "arthroplasty": case.arthroplasty,
        "follow_up_complete": None,
        "next_visit": None,
        "end_reason": case.end_reason,
        "late_entries": list(case.late_entries),
    }
    if case.state in flow.window_states and case.harvested_at:
        # Counted from the harvest's clinical time, with the limit of the case's own protocol.
        harvested = from_iso(case.harvested_at)
        status["window_minutes_left"] = rules.window_minutes_left(harvested, now, protocol)
        status["window_closes_at"] = iso(harvested + timedelta(minutes=protocol.window_minutes))
    if case.state == FOLLOW_UP and case.injected_at:
        complete = rules.follow_up_complete(set(case.visits), case.arthroplasty, protocol)
        status["follow_up_complete"] = complete
        pending = rules.pending_visits(from_iso(case.injected_at), set(case.visits), protocol)
        if complete:
            # Nothing more is scheduled: what remains is to close the case.
            status["next_step"] = "close"
            status["next_command"] = f"{flow.command('close')} {case.case_id}"
        elif pending:
            status["next_visit"] = {"visit": pending[0].visit, "due_at": iso(pending[0].due_at)}
    return status


def status(case_id: int, now: datetime, db: Database) -> dict[str, Any]:
    """The status object of one case."""
    with db.read() as uow:
        return status_in(uow, case_id, now)


def status_in(uow: UnitOfWork, case_id: int, now: datetime) -> dict[str, Any]:
    """The status object of one case, read in `uow`."""
    found = uow.repo.get_case(case_id)
    if found is None:
        raise NotFound(f"no case {case_id}: see `bmac case list`")
    case, protocol_id = found
    result = status_of(case, uow.repo.protocol(protocol_id), now)
    result["deviations"] = [
        {"deviation": r.id, "entry": r.seq, "kind": r.kind, "open": r.closed_seq is None}
        for r in uow.repo.deviations(case_id)
    ]
    return result


def list_cases(
    state: str | None, limit: int, page: int, now: datetime, db: Database
) -> tuple[list[dict[str, Any]], int]:
    """A page of status objects, newest first, and how many cases match in all."""
    with db.read() as uow:
        return list_in(uow, state, limit, page, now)


def list_in(
    uow: UnitOfWork, state: str | None, limit: int, page: int, now: datetime
) -> tuple[list[dict[str, Any]], int]:
    """`list_cases`, read in `uow`."""
    cases, total = uow.repo.list_cases(state, limit, (page - 1) * limit)
    protocols: dict[int, Protocol] = {}
    result = []
    for case, protocol_id in cases:
        if protocol_id not in protocols:
            protocols[protocol_id] = uow.repo.protocol(protocol_id)
        result.append(status_of(case, protocols[protocol_id], now))
    return result, total


def timeline(case_id: int, db: Database) -> list[dict[str, Any]]:
    """Every entry of a case, oldest first, with who corrected what and why; each refused
    attempt (`kind` "refusal") after the entry it followed."""
    with db.read() as uow:
        return timeline_in(uow, case_id)


def timeline_in(uow: UnitOfWork, case_id: int) -> list[dict[str, Any]]:
    """`timeline`, read in `uow`."""
    if uow.repo.case_version(case_id) is None:
        raise NotFound(f"no case {case_id}: see `bmac case list`")
    entries = uow.repo.entries(case_id)
    refused = uow.repo.refusal_rows(case_id)
    corrections: dict[int, list[Entry]] = {}
    for entry, _ in entries:
        if entry.action == "correct" and entry.corrects is not None:
            corrections.setdefault(entry.corrects, []).append(entry)
    after: dict[int, list[dict[str, Any]]] = {}
    for _, _, body, refusal_hash in refused:
        refusal = Refusal.from_body(body)
        after.setdefault(refusal.after, []).append(_refusal_row(refusal, refusal_hash))
    rows = []
    for entry, entry_hash in entries:
        rows.append(_timeline_row(entry, entry_hash, corrections.get(entry.seq, [])))
        rows += after.pop(entry.seq, [])
    return rows + [row for _, found in sorted(after.items()) for row in found]


def _refusal_row(refusal: Refusal, refusal_hash: str) -> dict[str, Any]:
    """A refused attempt as a timeline row: it left the case where it was."""
    signer = refusal.signer
    return {
        "kind": "refusal",
        "seq": None,
        "refusal": refusal.seq,
        "at": refusal.at,
        "recorded_at": refusal.recorded_at,
        "operator": signer.id,
        "operator_name": signer.name,
        "role": signer.role,
        "meaning": signer.meaning,
        "key": _fingerprint(signer),
        "verifier": None,
        "action": refusal.action,
        "from_state": refusal.state,
        "to_state": refusal.state,
        "data": refusal.data,
        "original_data": None,
        "reason": refusal.message,
        "rule": refusal.rule,
        "late": None,
        "corrects": None,
        "corrected_by": [],
        "prev_hash": refusal.prev_hash,
        "hash": refusal_hash,
    }


def _timeline_row(entry: Entry, entry_hash: str, corrected_by: list[Entry]) -> dict[str, Any]:
    current = dict(entry.data)
    for correction in corrected_by:
        current.update(correction.data["changes"])
    late = entry.minutes_late
    return {
        "kind": "entry",
        "seq": entry.seq,
        "at": entry.at,
        "recorded_at": entry.recorded_at,
        "operator": entry.signer.id,
        "operator_name": entry.signer.name,
        "role": entry.signer.role,
        "meaning": entry.signer.meaning,
        "key": _fingerprint(entry.signer),
        "verifier": None
        if entry.verifier is None
        else {
            "operator": entry.verifier.id,
            "operator_name": entry.verifier.name,
            "role": entry.verifier.role,
            "meaning": entry.verifier.meaning,
            "key": _fingerprint(entry.verifier),
        },
        "action": entry.action,
        "from_state": entry.from_state,
        "to_state": entry.to_state,
        "data": current,
        "original_data": entry.data if corrected_by else None,
        "reason": entry.reason,
        "late": None if late is None else {"minutes": late, "reason": entry.late_reason},
        "corrects": entry.corrects,
        "corrected_by": [
            {
                "seq": c.seq,
                "operator": c.signer.id,
                "operator_name": c.signer.name,
                "reason": c.reason,
                "changes": c.data["changes"],
            }
            for c in corrected_by
        ],
        "prev_hash": entry.prev_hash,
        "hash": entry_hash,
    }


def _fingerprint(signature: Signature) -> str | None:
    """The signing key's fingerprint; None for an entry signed before operators had keys."""
    return None if signature.key is None else keys.fingerprint(signature.key)


def due(within: timedelta, now: datetime, db: Database) -> list[dict[str, Any]]:
    """Every follow-up visit due or overdue by the end of the day `within` from now, by date.

    Dates are the clinic's local calendar days: a visit is listed when its due date is on or
    before the horizon's date, and is late by whole days once its due date has passed. A visit
    stays listed until it is recorded or the case is closed; a knee that went on to arthroplasty
    has no more visits due (the worklist rows, `rules.visits_due`).
    """
    with db.read() as uow:
        return due_in(uow, within, now)


def due_in(uow: UnitOfWork, within: timedelta, now: datetime) -> list[dict[str, Any]]:
    """`due`, read in `uow`."""
    today, horizon = due_horizon(within, now)
    rows = uow.repo.visits_due_before(horizon)
    listed = []
    day_of = LocalDays()
    for case_id, visit, due_at, patient_ref, knee in rows:
        due_day = day_of(due_at)
        listed.append(
            {
                "case_id": case_id,
                "patient_ref": patient_ref,
                "knee": knee,
                "visit": visit,
                "due_date": due_day.isoformat(),
                "due_at": due_at,
                "days_overdue": rules.days_overdue(due_day, today),
            }
        )
    return listed


def due_horizon(within: timedelta, now: datetime) -> tuple[date, str]:
    """Today (the clinic's day) and the stored time before which a visit is due within
    `within`: the start of the local day after the one `within` from now."""
    horizon = _start_of_local_day(_local_day(now + within) + timedelta(days=1), now)
    return _local_day(now), iso(horizon)


def _local_day(value: datetime) -> date:
    """The clinic's calendar day of an instant (the workstation's local time zone)."""
    return value.astimezone().date()


def _start_of_local_day(day: date, now: datetime) -> datetime:
    return datetime.combine(day, time.min, tzinfo=now.astimezone().tzinfo)


def recent_cases(url: str, limit: int) -> list[tuple[int, str, str, str]]:
    """(id, patient ref, knee, state) of the newest cases, for shell completion: never creates
    or migrates a database, and gives up quickly on a server that does not answer."""
    from ..store.database import Database

    db = Database.open_existing(url)
    if db is None:
        return []
    try:
        with db.read() as uow:
            return uow.repo.recent_cases(limit)
    finally:
        db.dispose()
