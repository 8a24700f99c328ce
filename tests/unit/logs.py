"""Case logs built in memory from the pure cores (no database): the entries a happy case writes.

`step` appends one step the way the services do it, without a store: the step's model
validates the values, the declaration's `prepare` adds what the step records besides them, the
machine decides the new state, and the entry is linked to the one before it. The values and
signers come from tests/walk.py, so that a step added to the workflow is walked here too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bmac_workflow.facts import Attempt, Person
from bmac_workflow.protocol import Protocol, load
from bmac_workflow.record import GENESIS, CaseSnapshot, Entry, Meaning, Signature, digest, replay
from bmac_workflow.states import FOLLOW_UP, INITIAL, workflow
from bmac_workflow.step_data import validate
from bmac_workflow.timeutil import from_iso, iso
from tests.walk import ROLE_OF, VERIFIER, happy_steps

PROTOCOL = load(None)
T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
NAMES = {who: f"{who.title()} Name" for who in ROLE_OF}


def signature(who: str, meaning: str) -> Signature:
    return Signature(who, NAMES.get(who, who), ROLE_OF.get(who, "nurse"), meaning)


def opened(
    case_id: int = 1, patient: str = "P-0001", knee: str = "left", at: datetime = T0
) -> list[Entry]:
    """The log of a case just opened by the nurse."""
    data = {
        "patient_ref": patient,
        "knee": knee,
        "protocol_version": PROTOCOL.version,
        "protocol_sha256": PROTOCOL.sha256,
    }
    stamp = iso(at)
    return [
        Entry(
            case_id,
            1,
            "open",
            None,
            INITIAL,
            stamp,
            stamp,
            signature("nurse", Meaning.PERFORMED),
            data,
            GENESIS,
        )
    ]


def step(
    log: list[Entry],
    trigger: str,
    values: dict[str, Any],
    who: str,
    *,
    minutes: float = 10,
    verifier: str | None = VERIFIER,
    reason: str | None = None,
    protocol: Protocol = PROTOCOL,
) -> list[Entry]:
    """`log` with `trigger` appended, `minutes` after the last entry (clinical time)."""
    case = replay(log)
    assert case is not None
    spec = workflow().by_trigger[trigger]
    at = from_iso(log[-1].at) + timedelta(minutes=minutes)
    data: dict[str, Any] = {}
    if spec.model is not None:
        data = validate(spec.model, values, protocol, case.volumes_ml).record()
        data.update(spec.model.derived(data, case.volumes_ml))
    second = Person(verifier, ROLE_OF.get(verifier, "nurse")) if verifier else None
    signer = Person(who, ROLE_OF[who])
    attempt = Attempt(case, protocol, data, signer, second, at, reason)
    added, request = spec.prepare(attempt)
    data = {**data, **added}
    to_state = workflow().advance(case.state, trigger, request)
    meaning = Meaning.OVERRIDDEN if data.get("overridden") else spec.meaning
    entry = Entry(
        case_id=case.case_id,
        seq=len(log) + 1,
        action=trigger,
        from_state=case.state,
        to_state=to_state,
        at=iso(at),
        recorded_at=iso(at + timedelta(seconds=30)),
        signer=signature(who, meaning),
        data=data,
        prev_hash=digest(log[-1].body()),
        verifier=signature(verifier, Meaning.VERIFIED)
        if spec.has_verifier() and verifier
        else None,
        reason=reason,
    )
    return [*log, entry]


def happy_log(case_id: int = 1, until: str = FOLLOW_UP, **changes: dict[str, Any]) -> list[Entry]:
    """The log of a happy case, walked until it is in state `until` (`changes`: values that
    differ from the happy ones, by trigger)."""
    order = workflow().states
    log = opened(case_id)
    for trigger, who, values in happy_steps(case_id):
        if order.index(log[-1].to_state) >= order.index(until):
            break
        log = step(log, trigger, {**values, **changes.get(trigger, {})}, who)
    return log


def corrected(
    log: list[Entry], seq: int, changes: dict[str, Any], who: str = "nurse", reason: str = "typo"
) -> list[Entry]:
    """`log` with a correction of entry `seq` appended (what `case correct` writes)."""
    last = log[-1]
    entry = Entry(
        case_id=last.case_id,
        seq=len(log) + 1,
        action="correct",
        from_state=last.to_state,
        to_state=last.to_state,
        at=last.at,
        recorded_at=last.recorded_at,
        signer=signature(who, Meaning.CORRECTED),
        data={"entry": seq, "changes": changes, "previous": {}},
        prev_hash=digest(last.body()),
        reason=reason,
        corrects=seq,
    )
    return [*log, entry]


def rows(log: list[Entry]) -> list[tuple[int, str, str]]:
    """The (seq, body, hash) rows the store keeps for a log."""
    return [(e.seq, e.body(), digest(e.body())) for e in log]


def snapshot(log: list[Entry]) -> CaseSnapshot:
    case = replay(log)
    assert case is not None
    return case
