"""Reading use cases: status, list, timeline, follow-up visits due. They write nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from .. import rules, states
from ..errors import NotFound
from ..protocol import Protocol
from ..record import CaseSnapshot, Entry
from ..store.unit_of_work import UnitOfWork
from ..timeutil import from_iso, iso

WAITING_FOR_INJECTION = {
    states.FILTERING,
    states.CENTRIFUGATION,
    states.PLASMA_REMOVAL,
    states.CONCENTRATION,
    states.INJECTION,
}


def status_of(case: CaseSnapshot, protocol: Protocol, now: datetime) -> dict[str, Any]:
    """Where a case stands, as the `status --json` object."""
    step = states.next_step(case.state)
    status: dict[str, Any] = {
        "case_id": case.case_id,
        "patient_ref": case.patient_ref,
        "knee": case.knee,
        "state": case.state,
        "next_step": step,
        "next_command": f"{states.COMMANDS[step]} {case.case_id}" if step else None,
        "insurance_eligible": case.insurance_eligible,
        "insurance_basis": case.insurance_basis,
        "assessment": case.assessment,
        "override_reason": case.override_reason,
        "protocol_version": case.protocol_version,
        "opened_at": case.opened_at,
        "updated_at": case.updated_at,
        "entries": case.version,
        "specimen_id": case.specimen_id,
        "harvested_at": case.harvested_at,
        "injected_at": case.injected_at,
        "volumes_ml": case.volumes_ml,
        "concentration_factor": case.concentration_factor,
        "window_minutes_left": None,
        "visits_recorded": list(case.visits),
        "next_visit": None,
        "end_reason": case.end_reason,
    }
    if case.state in WAITING_FOR_INJECTION and case.harvested_at:
        elapsed = rules.minutes_between(from_iso(case.harvested_at), now)
        status["window_minutes_left"] = round(protocol.window_minutes - elapsed, 1)
    if case.state == states.FOLLOW_UP and case.injected_at:
        pending = rules.pending_visits(from_iso(case.injected_at), set(case.visits), protocol)
        if pending:
            status["next_visit"] = {"visit": pending[0].visit, "due_at": iso(pending[0].due_at)}
    return status


def status(case_id: int, now: datetime, uow: UnitOfWork) -> dict[str, Any]:
    """The status object of one case."""
    with uow:
        found = uow.repo.get_case(case_id)
        if found is None:
            raise NotFound(f"no case {case_id}: see `bmac case list`")
        case, protocol_id = found
        return status_of(case, uow.repo.protocol(protocol_id), now)


def list_cases(
    state: str | None, limit: int, page: int, now: datetime, uow: UnitOfWork
) -> tuple[list[dict[str, Any]], int]:
    """A page of status objects, newest first, and how many cases match in all."""
    with uow:
        cases, total = uow.repo.list_cases(state, limit, (page - 1) * limit)
        protocols: dict[int, Protocol] = {}
        result = []
        for case, protocol_id in cases:
            if protocol_id not in protocols:
                protocols[protocol_id] = uow.repo.protocol(protocol_id)
            result.append(status_of(case, protocols[protocol_id], now))
        return result, total


def timeline(case_id: int, uow: UnitOfWork) -> list[dict[str, Any]]:
    """Every entry of a case, oldest first, with who corrected what and why."""
    with uow:
        if uow.repo.case_version(case_id) is None:
            raise NotFound(f"no case {case_id}: see `bmac case list`")
        entries = uow.repo.entries(case_id)
    corrections: dict[int, list[Entry]] = {}
    for entry, _ in entries:
        if entry.action == "correct" and entry.corrects is not None:
            corrections.setdefault(entry.corrects, []).append(entry)
    return [
        _timeline_row(entry, entry_hash, corrections.get(entry.seq, []))
        for entry, entry_hash in entries
    ]


def _timeline_row(entry: Entry, entry_hash: str, corrected_by: list[Entry]) -> dict[str, Any]:
    current = dict(entry.data)
    for correction in corrected_by:
        current.update(correction.data["changes"])
    return {
        "seq": entry.seq,
        "at": entry.at,
        "recorded_at": entry.recorded_at,
        "operator": entry.signer.id,
        "operator_name": entry.signer.name,
        "role": entry.signer.role,
        "meaning": entry.signer.meaning,
        "verifier": None
        if entry.verifier is None
        else {
            "operator": entry.verifier.id,
            "operator_name": entry.verifier.name,
            "role": entry.verifier.role,
            "meaning": entry.verifier.meaning,
        },
        "action": entry.action,
        "from_state": entry.from_state,
        "to_state": entry.to_state,
        "data": current,
        "original_data": entry.data if corrected_by else None,
        "reason": entry.reason,
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


def due(within: timedelta, now: datetime, uow: UnitOfWork) -> list[dict[str, Any]]:
    """Every follow-up visit due or overdue by now + `within`, earliest first."""
    horizon = now + within
    rows = []
    with uow:
        protocols: dict[int, Protocol] = {}
        for case, protocol_id in uow.repo.cases_due_by(iso(horizon)):
            if protocol_id not in protocols:
                protocols[protocol_id] = uow.repo.protocol(protocol_id)
            assert case.injected_at is not None
            pending = rules.pending_visits(
                from_iso(case.injected_at), set(case.visits), protocols[protocol_id]
            )
            for visit in pending:
                if visit.due_at > horizon:
                    break
                overdue = (now - visit.due_at).days if visit.due_at < now else 0
                rows.append(
                    {
                        "case_id": case.case_id,
                        "patient_ref": case.patient_ref,
                        "knee": case.knee,
                        "visit": visit.visit,
                        "due_at": iso(visit.due_at),
                        "days_overdue": overdue,
                    }
                )
    return sorted(rows, key=lambda r: (r["due_at"], r["case_id"]))
