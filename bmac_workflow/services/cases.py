"""Writing use cases: open a case, and log a step of it (every trigger of the workflow).

Each is one call that signs the operator in, checks in the README's order (sign-in 6, the case
3, the role 6, the state 4, the data 5, the guards 5/6) and writes the entry and the case together
in one write unit of work, or nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .. import lateness, rules
from ..errors import BmacError, Conflict, InvalidData, NotFound
from ..facts import Attempt, Person
from ..gates import gate
from ..protocol import Protocol
from ..record import GENESIS, CaseSnapshot, Entry, Meaning
from ..registry import Holder
from ..roles import check_permitted
from ..states import INITIAL, workflow
from ..step_data import validate
from ..timeutil import iso
from .protocols import Choice, chosen
from .quality import gates_for
from .recording import (
    Change,
    Clock,
    changed_under_you,
    clinical_time,
    command_time,
    commit,
    load_case,
    new_entry,
    signed_body,
    signed_entry,
)
from .refusals import log_refused
from .second_person import second_person
from .signing import Credentials, SignedIn, record, record_alone, sign_in

__all__ = [
    "Change",
    "StepRequest",
    "log_signed_step",
    "log_step",
    "open_case",
    "open_signed_case",
    "read_case",
]

if TYPE_CHECKING:
    from ..gates import Gates
    from ..steps import Step
    from ..store.database import Database
    from ..store.unit_of_work import UnitOfWork


def open_case(
    patient_ref: str,
    knee: str,
    protocol: Choice,
    signer: Credentials,
    at: str | None,
    clock: Clock,
    db: Database,
    late_reason: str | None = None,
) -> Change:
    """Open a case for one knee of one patient, under the active protocol or the activated one
    `protocol` names (a version, or a file's content)."""
    signed = sign_in(signer, clock(), db)
    return open_signed_case(patient_ref, knee, protocol, signed, at, clock, db, late_reason)


def open_signed_case(
    patient_ref: str,
    knee: str,
    protocol: Choice,
    signed: SignedIn,
    at: str | None,
    clock: Clock,
    db: Database,
    late_reason: str | None = None,
) -> Change:
    """`open_case` once the operator is signed in."""
    now = command_time(clock, db, signed.registry)
    try:
        check_permitted("open", signed.holder.role)
        patient_ref = rules.check_patient_ref(patient_ref)
        if knee not in ("left", "right"):
            raise InvalidData("--knee must be left or right")
        clinical = clinical_time(at, None, now)
        with db.write() as uow:
            rules_in_force = chosen(protocol, signed.registry, uow)
            late = lateness.minutes_late(clinical, now, rules_in_force)
            late_reason = lateness.checked_reason(late, late_reason, rules_in_force)
            position = record(signed, now, uow) or signed.registry.length
            protocol_id = uow.repo.protocol_id(rules_in_force, iso(now))
            case_id = uow.repo.reserve_case(patient_ref, knee, protocol_id, iso(now))
            entry = Entry(
                case_id=case_id,
                seq=1,
                action="open",
                from_state=None,
                to_state=INITIAL,
                at=iso(clinical),
                recorded_at=iso(now),
                signer=signed.signer(Meaning.PERFORMED).signature,
                data={
                    "patient_ref": patient_ref,
                    "knee": knee,
                    "protocol_version": rules_in_force.version,
                    "protocol_sha256": rules_in_force.sha256,
                },
                prev_hash=GENESIS,
                registry=position,
                minutes_late=late,
                late_reason=late_reason,
                quality=uow.repo.quality_length(),
            )
            entry = signed_entry(entry, signed.signer(Meaning.PERFORMED))
            return commit(uow, None, entry, rules_in_force)
    except BmacError:
        record_alone(signed, now, db)
        raise


@dataclass(frozen=True)
class StepRequest:
    """What an operator asks for: `trigger` on a case, with the step's raw values as typed, its
    clinical time (`--at`, default now), its reason where the step takes one, and why it is
    logged late (`--late-reason`) when it is."""

    case_id: int
    trigger: str
    values: dict[str, Any] = field(default_factory=dict)
    at: str | None = None
    reason: str | None = None
    late_reason: str | None = None


def log_step(
    asked: StepRequest,
    signer: Credentials,
    clock: Clock,
    db: Database,
    verifier: Credentials | None = None,
) -> Change:
    """Log a step on a case, checked in the README's order of checks.

    The case is read before the PIN is asked: if it moves while the operator types, that is a
    conflict (7). A second person's PIN (the injection's verifier) is asked only once the step
    could happen, and is never tried on a step that cannot.
    """
    found = read_case(asked.case_id, db)
    signed = sign_in(signer, clock(), db)
    return log_signed_step(asked, found, signed, clock, db, verifier)


def read_case(case_id: int, db: Database) -> tuple[CaseSnapshot, Protocol] | None:
    """The case and its protocol as they stand, before anyone is asked for a PIN."""
    with db.glance() as uow:
        return load_case(uow.repo, case_id)


def log_signed_step(
    asked: StepRequest,
    found: tuple[CaseSnapshot, Protocol] | None,
    signed: SignedIn,
    clock: Clock,
    db: Database,
    verifier: Credentials | None = None,
) -> Change:
    """`log_step` once the operator is signed in, on the case as `read_case` found it."""
    case_id, trigger, values, reason = asked.case_id, asked.trigger, asked.values, asked.reason
    step = workflow().by_trigger[trigger]
    now = command_time(clock, db, signed.registry)
    logged = False
    try:
        if found is None:
            raise NotFound(f"no case {case_id}: see `bmac case list`")
        case, protocol = found
        check_permitted(trigger, signed.holder.role)
        workflow().check_allowed(case.state, trigger)
        clinical = clinical_time(asked.at, case, now)
        late = lateness.minutes_late(clinical, now, protocol)
        late_reason = lateness.checked_reason(late, asked.late_reason, protocol)
        attempt = _attempt(step, values, case, protocol, signed.holder, clinical, reason)

        def write(uow: UnitOfWork, data: dict[str, Any], to: str, gates: Gates,
                  second: SignedIn | None = None) -> Change:  # fmt: skip
            meaning = Meaning.OVERRIDDEN if data.get("overridden") else step.meaning
            signer = signed.signer(meaning)
            position = record(signed, now, uow, waited=second is not None)
            if second is not None and second is not signed:
                position = max(position, record(second, now, uow))
            verifier_signs = second.signer(Meaning.VERIFIED) if second else None
            entry = new_entry(
                case_id=case_id,
                seq=case.version + 1,
                action=trigger,
                from_state=case.state,
                to_state=to,
                at=iso(clinical),
                recorded_at=iso(now),
                signer=signer.signature,
                data=data,
                prev_hash=case.head_hash,
                verifier=verifier_signs.signature if verifier_signs else None,
                reason=reason,
                registry=position or signed.registry.length,
                minutes_late=late,
                late_reason=late_reason,
                quality=gates.position,
            )
            entry, body = signed_body(entry, signer, verifier_signs)
            # The entry's (case, seq) is unique and the case row is written only at the
            # version read before the PIN: if anyone logged since, nothing is written.
            return commit(uow, case, entry, protocol, body)

        try:
            if not step.verifier_field:
                # No second PIN is asked: the gates are read in the write itself, which holds
                # SQLite's lock from its start (one unit of work, and no hold can slip in).
                with db.write() as uow:
                    gates = gates_for(uow, case, step, attempt.data)
                    data, request = _prepared(step, attempt._replace(gates=gates))
                    try:
                        new_state = workflow().advance(case.state, trigger, request)
                    except BmacError as refused:
                        failed = refused
                    else:
                        return write(uow, data, new_state, gates)
                # A guard's refusal is kept, signed, in the refusals log, committed on its own
                # (the write above is rolled back): the step itself still fails.
                asked_of = request._replace(verifier_is_second_person=True)
                logged = log_refused(step, asked_of, failed, case, data, signed, clinical, now, db)
                raise failed
            with db.glance() as uow:
                gates = gates_for(uow, case, step, attempt.data)
            attempt = attempt._replace(gates=gates)
            data, request = _prepared(step, attempt)
            second: SignedIn | None = None
            try:
                second = second_person(step, attempt, request, verifier, signed, clock, db)
                attempt = attempt._replace(verifier=_person(second.holder))
                data, request = _prepared(step, attempt)
                new_state = workflow().advance(case.state, trigger, request)
            except BmacError as refused:
                # As above; a refused second person is one of these refusals.
                asked_of = request if second else request._replace(verifier_is_second_person=True)
                logged = log_refused(step, asked_of, refused, case, data, signed, clinical, now, db)
                raise
            with db.write() as uow:
                if uow.repo.quality_length() != gates.position:
                    raise Conflict(
                        "a lot hold or device record was added while this step was being "
                        f"logged: nothing was written; log it again (`bmac case status {case_id}`)"
                    )
                return write(uow, data, new_state, gates, second)
        except Conflict as conflict:
            with db.read() as uow:
                moved = changed_under_you(uow.repo, case, otherwise=conflict)
            raise moved from None
    except BmacError:
        if not logged:  # the refusal's unit of work wrote what the sign-in changes
            record_alone(signed, now, db)
        raise


def _attempt(
    step: Step,
    values: dict[str, Any],
    case: CaseSnapshot,
    protocol: Protocol,
    signer: Holder,
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
    added, request = gate(step, attempt, *step.prepare(attempt))
    return {**attempt.data, **added}, request


def _person(holder: Holder) -> Person:
    return Person(holder.id, holder.role, holder.active)
