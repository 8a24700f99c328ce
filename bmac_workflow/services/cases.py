"""Writing use cases: open a case, fire a trigger with its data, correct an entry."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from .. import rules, states
from ..errors import Conflict, InvalidData, NotFound
from ..people import Operator
from ..protocol import Protocol
from ..record import GENESIS, CaseSnapshot, Entry, Signature, apply, evolve
from ..steps import validate
from ..store.repository import Repository
from ..store.unit_of_work import UnitOfWork
from ..timeutil import from_iso, iso, parse_at


@dataclass(frozen=True)
class Change:
    """What a writing command did: the case after it and the entry it appended."""

    case: CaseSnapshot
    entry: Entry


def signature(operator: Operator, action: str) -> Signature:
    """The electronic signature of `operator` for `action`."""
    return Signature(operator.id, operator.name, operator.role, states.MEANINGS[action])


def open_case(
    patient_ref: str,
    knee: str,
    protocol: Protocol,
    signer: Operator,
    at: str | None,
    now: datetime,
    uow: UnitOfWork,
) -> Change:
    """Open a case for one knee of one patient, under `protocol`."""
    states.check_permitted("open", signer.role)
    patient_ref = rules.check_patient_ref(patient_ref)
    if knee not in ("left", "right"):
        raise InvalidData("--knee must be left or right")
    clinical = _clinical_time(at, None, now)
    with uow:
        protocol_id = uow.repo.protocol_id(protocol, iso(now))
        case_id = uow.repo.reserve_case(patient_ref, knee, protocol_id, iso(now))
        entry = Entry(
            case_id=case_id,
            seq=1,
            action="open",
            from_state=None,
            to_state=states.INITIAL,
            at=iso(clinical),
            recorded_at=iso(now),
            signer=signature(signer, "open"),
            data={
                "patient_ref": patient_ref,
                "knee": knee,
                "protocol_version": protocol.version,
                "protocol_sha256": protocol.sha256,
            },
            prev_hash=GENESIS,
        )
        change = _commit(uow, None, entry, protocol)
    return change


def fire(
    case_id: int,
    trigger: str,
    values: dict[str, Any],
    signer: Operator,
    at: str | None,
    now: datetime,
    uow: UnitOfWork,
    *,
    expected_version: int | None = None,
    verifier: Operator | None = None,
    reason: str | None = None,
) -> Change:
    """Fire `trigger` on a case with the step's raw values, checked in the SPEC's order."""
    with uow:
        case, protocol = _load(uow.repo, case_id)
        states.check_permitted(trigger, signer.role)
        if expected_version is not None and case.version != expected_version:
            raise _changed_under_you(uow.repo, case, expected_version)
        states.check_allowed(case.state, trigger)
        clinical = _clinical_time(at, case, now)
        data, request = _prepare(
            trigger, values, case, protocol, signer, verifier, clinical, reason
        )
        # A specimen ID already used by another case is refused by its unique index when the
        # case row is written (exit 5, nothing written): no SELECT of its own on every collection.
        new_state = states.advance(case.state, trigger, request)
        entry = Entry(
            case_id=case.case_id,
            seq=case.version + 1,
            action=trigger,
            from_state=case.state,
            to_state=new_state,
            at=iso(clinical),
            recorded_at=iso(now),
            signer=_signer_signature(signer, trigger, data),
            data=data,
            prev_hash=case.head_hash,
            verifier=_verifier_signature(verifier) if trigger == "inject" else None,
            reason=reason,
        )
        return _commit(uow, case, entry, protocol)


def _prepare(
    trigger: str,
    values: dict[str, Any],
    case: CaseSnapshot,
    protocol: Protocol,
    signer: Operator,
    verifier: Operator | None,
    clinical: datetime,
    reason: str | None,
) -> tuple[dict[str, Any], states.Request]:
    """Validate the step's data (exit 5) and reduce it to the facts the guards decide on."""
    role = signer.role
    if trigger in ("cancel", "close"):
        if reason is not None and not reason.strip():
            raise InvalidData("--reason is empty: say in words why the case ends")
        if trigger == "cancel" and reason is None:
            raise InvalidData("--reason is required to cancel a case: say why it stopped")
        rules.refuse_rrn(reason, "--reason")
        complete = rules.follow_up_complete(set(case.visits), case.arthroplasty, protocol)
        return {}, states.Request(role=role, follow_up_complete=complete, close_reason=reason)
    data = validate(trigger, values, protocol, case.volumes_ml).record()
    if trigger == "assess":
        override = data.get("override_reason")
        decision = rules.assessment_record(
            data["kl_grade"],
            data["icrs_grade"],
            data["imaging"],
            data["leg_deformity"],
            override,
            protocol,
        )
        data.update(decision)
        return data, states.Request(
            role=role, candidate=decision["candidate"], override_reason=override
        )
    if trigger == "concentrate":
        # Computed here, from the recorded volumes, so that nobody can type it in.
        data["concentration_factor"] = round(
            case.volumes_ml["aspirate_ml"] / data["concentrate_ml"], 2
        )
    if trigger == "inject":
        # The window runs on clinical times (`--at`), not on when the entries were typed in.
        # The guard decides on the exact minutes; the record keeps them to the hundredth.
        exact = rules.minutes_between(from_iso(case.harvested_at or ""), clinical)
        minutes = round(exact, 2)
        override = data.get("override_reason")
        data["minutes_since_harvest"] = minutes
        data["window_limit_min"] = protocol.window_minutes
        # Decided on the unrounded minutes: 120 min 2 s is past a 120-min window (SPEC §3).
        data["overridden"] = bool(override) and exact > protocol.window_minutes
        second = (
            verifier is not None
            and verifier.id != signer.id
            and verifier.active
            and verifier.role in states.PERMISSIONS["verify_injection"]
        )
        return data, states.Request(
            role=role,
            override_reason=override,
            specimen_matches=data["specimen_id"] == case.specimen_id,
            knee_matches=data["knee"] == case.knee,
            verifier_is_second_person=second,
            minutes_since_harvest=exact,
            window_limit_min=protocol.window_minutes,
        )
    if trigger == "record_follow_up":
        recorded = data["visit"] != "adhoc" and data["visit"] in case.visits
        return data, states.Request(role=role, visit_already_recorded=recorded)
    return data, states.Request(role=role)


def _signer_signature(signer: Operator, trigger: str, data: dict[str, Any]) -> Signature:
    sig = signature(signer, trigger)
    if data.get("overridden"):
        sig = replace(sig, meaning="overridden")
    return sig


def _verifier_signature(verifier: Operator | None) -> Signature | None:
    if verifier is None:
        return None
    return Signature(verifier.id, verifier.name, verifier.role, "verified")


def _load(repo: Repository, case_id: int) -> tuple[CaseSnapshot, Protocol]:
    found = repo.get_case(case_id, lock=True)
    if found is None:
        raise NotFound(f"no case {case_id}: see `bmac case list`")
    case, protocol_id = found
    return case, repo.protocol(protocol_id)


def _clinical_time(at: str | None, case: CaseSnapshot | None, now: datetime) -> datetime:
    """The clinical time of an entry: now, or `--at` if it is neither future nor out of order."""
    if at is None:
        return now
    value = parse_at(at)
    if value > now:
        raise InvalidData(f"--at {at} is in the future: an entry records what already happened")
    if case is not None and value < from_iso(case.last_at):
        raise InvalidData(
            f"--at {at} is before the case's previous entry ({case.last_at}): entries stay in order"
        )
    return value


def _commit(uow: UnitOfWork, case: CaseSnapshot | None, entry: Entry, protocol: Protocol) -> Change:
    entry_hash = uow.repo.append(entry)
    after = evolve(apply(case, entry, entry.data), head_hash=entry_hash)
    uow.repo.save_case(after, case)
    if states.FOLLOW_UP in (after.state, case.state if case else None):
        # Only entering, staying in or leaving follow-up changes which visits are due.
        uow.repo.set_due_visits(after, rules.visits_due(after, protocol))
    uow.commit()
    return Change(after, entry)


def _changed_under_you(repo: Repository, case: CaseSnapshot, expected: int) -> Conflict:
    """Exit 7, naming who logged what first and when (local time, the moment it was logged)."""
    from ..timeutil import local

    newer = [e for e, _ in repo.entries(case.case_id) if e.seq > expected]
    if not newer:
        return Conflict(
            f"case {case.case_id} changed under you: check `bmac case status {case.case_id}`"
        )
    first = newer[0]
    return Conflict(
        f"case {case.case_id} changed under you: {first.signer.id} logged {first.action} at "
        f"{local(first.recorded_at)}; check `bmac case status {case.case_id}`"
    )


def precheck(
    case_id: int,
    trigger: str,
    values: dict[str, Any],
    signer: Operator,
    at: str | None,
    now: datetime,
    uow: UnitOfWork,
    *,
    reason: str | None = None,
) -> None:
    """Every check of `fire` that needs no second person, reading only (SPEC §5 order).

    Run before a verifier is asked for their PIN: a step that cannot happen (no such case, the
    wrong role, state or data, a specimen or knee that does not match, the window passed) is
    refused with its own code, and the verifier's PIN is never tried on it.
    """
    with uow:
        found = uow.repo.get_case(case_id)
        if found is None:
            raise NotFound(f"no case {case_id}: see `bmac case list`")
        case, protocol = found[0], uow.repo.protocol(found[1])
    states.check_permitted(trigger, signer.role)
    states.check_allowed(case.state, trigger)
    clinical = _clinical_time(at, case, now)
    _, request = _prepare(trigger, values, case, protocol, signer, None, clinical, reason)
    states.advance(case.state, trigger, replace(request, verifier_is_second_person=True))
