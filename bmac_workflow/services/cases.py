"""Writing use cases: open a case, and log a step of it (every trigger of the workflow).

Each is one call that signs the operator in, checks in the SPEC's order (sign-in 6, the case 3,
the role 6, the state 4, the data 5, the guards 5/6) and writes the entry and the case together
in one write unit of work, or nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .. import rules
from ..errors import BmacError, Conflict, InvalidData, NotFound
from ..facts import Attempt, Person
from ..operators import Operator, SignInLimits
from ..protocol import Protocol
from ..record import GENESIS, CaseSnapshot, Entry, Meaning, Signature, apply, evolve
from ..roles import check_permitted
from ..states import FOLLOW_UP, INITIAL, workflow
from ..step_data import validate
from ..timeutil import from_iso, iso, local, parse_at
from .signing import Credentials, SignedIn, record, record_alone, sign_in

if TYPE_CHECKING:
    from ..steps import Step
    from ..store.database import Database
    from ..store.repository import Repository
    from ..store.unit_of_work import UnitOfWork

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Change:
    """What a writing command did: the case after it and the entry it appended."""

    case: CaseSnapshot
    entry: Entry


def signature(operator: Operator, meaning: str) -> Signature:
    """The electronic signature of `operator`, meaning `meaning`."""
    return Signature(operator.id, operator.name, operator.role, meaning)


def open_case(
    patient_ref: str,
    knee: str,
    protocol: Protocol,
    signer: Credentials,
    limits: SignInLimits,
    at: str | None,
    clock: Clock,
    db: Database,
) -> Change:
    """Open a case for one knee of one patient, under `protocol`."""
    signed = sign_in(signer, limits, clock(), db)
    now = clock()
    try:
        check_permitted("open", signed.operator.role)
        patient_ref = rules.check_patient_ref(patient_ref)
        if knee not in ("left", "right"):
            raise InvalidData("--knee must be left or right")
        clinical = clinical_time(at, None, now)
        with db.write() as uow:
            operator = record(signed, now, uow)
            protocol_id = uow.repo.protocol_id(protocol, iso(now))
            case_id = uow.repo.reserve_case(patient_ref, knee, protocol_id, iso(now))
            entry = Entry(
                case_id=case_id,
                seq=1,
                action="open",
                from_state=None,
                to_state=INITIAL,
                at=iso(clinical),
                recorded_at=iso(now),
                signer=signature(operator, Meaning.PERFORMED),
                data={
                    "patient_ref": patient_ref,
                    "knee": knee,
                    "protocol_version": protocol.version,
                    "protocol_sha256": protocol.sha256,
                },
                prev_hash=GENESIS,
            )
            return commit(uow, None, entry, protocol)
    except BmacError:
        record_alone(signed, now, db)
        raise


def log_step(
    case_id: int,
    trigger: str,
    values: dict[str, Any],
    signer: Credentials,
    limits: SignInLimits,
    at: str | None,
    clock: Clock,
    db: Database,
    *,
    verifier: Credentials | None = None,
    reason: str | None = None,
) -> Change:
    """Log `trigger` on a case with the step's raw values, checked in the SPEC's order.

    The case is read before the PIN is asked: if it moves while the operator types, that is a
    conflict (7). A second person's PIN (the injection's verifier) is asked only once the step
    could happen, and is never tried on a step that cannot.
    """
    step = workflow().by_trigger[trigger]
    with db.read() as uow:
        found = _load(uow.repo, case_id)
    signed = sign_in(signer, limits, clock(), db)
    now = clock()
    try:
        if found is None:
            raise NotFound(f"no case {case_id}: see `bmac case list`")
        case, protocol = found
        check_permitted(trigger, signed.operator.role)
        workflow().check_allowed(case.state, trigger)
        clinical = clinical_time(at, case, now)
        attempt = _attempt(step, values, case, protocol, signed.operator, clinical, reason)
        data, request = _prepared(step, attempt)
        second: SignedIn | None = None
        if step.has_verifier():
            # Every guard but the second person's, before that person is asked for a PIN.
            workflow().advance(
                case.state, trigger, replace(request, verifier_is_second_person=True)
            )
            second = _verifier(verifier, signed, limits, clock, db)
            attempt = replace(attempt, verifier=_person(second.operator))
            data, request = _prepared(step, attempt)
        new_state = workflow().advance(case.state, trigger, request)
        with db.write() as uow:
            current = _load(uow.repo, case_id, lock=True)
            if current is None or current[0].version != case.version:
                raise _changed_under_you(uow.repo, case)
            operator = record(signed, now, uow)
            if second is not None:
                record(second, now, uow)
            entry = Entry(
                case_id=case_id,
                seq=case.version + 1,
                action=trigger,
                from_state=case.state,
                to_state=new_state,
                at=iso(clinical),
                recorded_at=iso(now),
                signer=signature(
                    operator, Meaning.OVERRIDDEN if data.get("overridden") else step.meaning
                ),
                data=data,
                prev_hash=case.head_hash,
                verifier=_verifier_signature(second),
                reason=reason,
            )
            return commit(uow, case, entry, protocol)
    except BmacError:
        record_alone(signed, now, db)
        raise


def _attempt(
    step: Step,
    values: dict[str, Any],
    case: CaseSnapshot,
    protocol: Protocol,
    signer: Operator,
    clinical: datetime,
    reason: str | None,
) -> Attempt:
    """The attempt with its typed data validated by the step's model (exit 5)."""
    data: dict[str, Any] = {}
    if step.model is not None:
        data = validate(step.model, values, protocol, case.volumes_ml).record()
        data.update(step.model.derived(data, case.volumes_ml))
    return Attempt(case, protocol, data, _person(signer), None, clinical, reason)


def _prepared(step: Step, attempt: Attempt) -> tuple[dict[str, Any], Any]:
    added, request = step.prepare(attempt)
    return {**attempt.data, **added}, request


def _person(operator: Operator) -> Person:
    return Person(operator.id, operator.role, operator.active)


def _verifier(
    credentials: Credentials | None,
    signer: SignedIn,
    limits: SignInLimits,
    clock: Clock,
    db: Database,
) -> SignedIn:
    """The second person, signed in with their own PIN; the signer named as their own verifier
    is not asked again (the second-person guard refuses it, in the machine's order)."""
    if credentials is None or credentials.operator_id == signer.operator.id:
        return SignedIn(signer.operator, {}, ())
    return sign_in(credentials, limits, clock(), db)


def _verifier_signature(second: SignedIn | None) -> Signature | None:
    if second is None:
        return None
    return signature(second.operator, Meaning.VERIFIED)


def _load(
    repo: Repository, case_id: int, lock: bool = False
) -> tuple[CaseSnapshot, Protocol] | None:
    found = repo.get_case(case_id, lock=lock)
    if found is None:
        return None
    return found[0], repo.protocol(found[1])


def clinical_time(at: str | None, case: CaseSnapshot | None, now: datetime) -> datetime:
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


def commit(uow: UnitOfWork, case: CaseSnapshot | None, entry: Entry, protocol: Protocol) -> Change:
    """Append `entry`, write the case it leads to (and its worklist), and commit."""
    entry_hash = uow.repo.append(entry)
    after = evolve(apply(case, entry, entry.data), head_hash=entry_hash)
    uow.repo.save_case(after, case)
    if FOLLOW_UP in (after.state, case.state if case else None):
        # Only entering, staying in or leaving follow-up changes which visits are due.
        uow.repo.set_due_visits(after.case_id, rules.due_rows(after, protocol))
    uow.commit()
    return Change(after, entry)


def _changed_under_you(repo: Repository, case: CaseSnapshot) -> Conflict:
    """Exit 7, naming who logged what first and when (local time, the moment it was logged)."""
    newer = [e for e, _ in repo.entries(case.case_id) if e.seq > case.version]
    if not newer:
        return Conflict(
            f"case {case.case_id} changed under you: check `bmac case status {case.case_id}`"
        )
    first = newer[0]
    return Conflict(
        f"case {case.case_id} changed under you: {first.signer.id} logged {first.action} at "
        f"{local(first.recorded_at)}; check `bmac case status {case.case_id}`"
    )
