"""A hypothesis state machine drives the service layer with random sequences of every command:
open, each step and trigger, cancel, close, sign-in with right and wrong PINs, operator
deactivation and PIN reset, status; with bad values, wrong roles, stale versions and bad times.
After every step it compares the exit code, each case's state and entry count and the
operators' lock counters with a small model of the workflow written from the SPEC.

It runs through the services rather than the CLI for speed; the CLI's own mapping of errors to
exit codes is covered by the e2e tests. BMAC_STATEFUL_EXAMPLES raises the number of examples
(at least 500 in CI on SQLite; PostgreSQL runs a fifth of them).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import event, text

from bmac_workflow.errors import BmacError
from bmac_workflow.services import cases, operators, queries
from bmac_workflow.services.signing import sign_in
from bmac_workflow.store.lookup import CaseLookup
from bmac_workflow.timeutil import iso, utcnow
from tests.conftest import PINS, ROLE_OF, Clinic

EXAMPLES = int(os.environ.get("BMAC_STATEFUL_EXAMPLES", "500"))
PEOPLE = sorted(PINS)

# The model's own reading of the SPEC (not the code's tables).
MAY = {
    "open": {"nurse", "surgeon"},
    "assess": {"surgeon"},
    "collect": {"nurse", "surgeon"},
    "filter": {"nurse", "surgeon"},
    "centrifuge": {"nurse", "surgeon"},
    "remove_plasma": {"nurse", "surgeon"},
    "concentrate": {"nurse", "surgeon"},
    "inject": {"surgeon"},
    "record_follow_up": {"nurse", "surgeon"},
    "cancel": {"surgeon"},
    "close": {"surgeon"},
}
CHAIN = [
    ("imaging_assessment", "assess", "marrow_collection"),
    ("marrow_collection", "collect", "filtering"),
    ("filtering", "filter", "centrifugation"),
    ("centrifugation", "centrifuge", "plasma_removal"),
    ("plasma_removal", "remove_plasma", "concentration"),
    ("concentration", "concentrate", "injection"),
    ("injection", "inject", "follow_up"),
]
NEXT = {state: trigger for state, trigger, _ in CHAIN}
AFTER = {trigger: dest for _, trigger, dest in CHAIN}
BEFORE_FOLLOW_UP = set(NEXT)
TRIGGERS = sorted(set(MAY) - {"open"})
VISITS = ["1w", "1m", "3m", "6m", "12m", "24m", "adhoc"]
MAX_FAILED = 5
DEFECTS = [None, "bad_value", "special", "stale", "future", "before"]
CASES_SINCE = text("SELECT id, state, version FROM cases WHERE id >= :first")
ENTRIES_SINCE = text("SELECT count(*) FROM entries WHERE case_id >= :first")
OPERATORS = text("SELECT id, failed_pins, locked_until IS NOT NULL, active FROM operators")


def allowed(state: str, trigger: str) -> bool:
    if trigger == "cancel":
        return state in BEFORE_FOLLOW_UP
    if state == "follow_up":
        return trigger in ("record_follow_up", "close")
    return NEXT.get(state) == trigger


@dataclass
class ModelCase:
    case_id: int
    knee: str
    state: str = "imaging_assessment"
    version: int = 1
    volumes: dict[str, float] = field(default_factory=dict)
    visits: set[str] = field(default_factory=set)
    arthroplasty: bool = False


@dataclass
class Attempt:
    """One call: the values, and the exit code the model expects (0: success)."""

    values: dict[str, Any]
    expected: int
    dest: str | None = None
    verifier: str | None = None
    reason: str | None = None
    at_offset: timedelta | None = None
    stale: bool = False


class Workflow(RuleBasedStateMachine):
    clinic: Clinic
    runs = 0
    codes: ClassVar[dict[int, int]] = {}
    reached: ClassVar[set[str]] = set()

    cases = Bundle("cases")

    @initialize()
    def fresh_operators(self) -> None:
        """Each example starts with every operator active and unlocked (cases are new)."""
        Workflow.runs += 1
        self.model: dict[int, ModelCase] = {}
        self.failed = dict.fromkeys(PEOPLE, 0)
        self.locked = dict.fromkeys(PEOPLE, False)
        self.active = dict.fromkeys(PEOPLE, True)
        with self.clinic.uow() as uow:
            for who in PEOPLE:
                uow.repo.update_operator(who, failed_pins=0, locked_until=None, active=True)
            uow.commit()

    # -- commands ---------------------------------------------------------------------------
    @rule(
        target=cases,
        who=st.sampled_from(["nurse", "nurse2", "surgeon", "nurse", "auditor", "admin"]),
        patient=st.sampled_from(["P-1"] * 6 + ["900101-1234567", "  "]),
        knee=st.sampled_from(["left", "right"] * 3 + ["middle"]),
    )
    def open(self, who: str, patient: str, knee: str) -> int:
        expected = (
            6
            if ROLE_OF[who] not in MAY["open"]
            else 5
            if patient != "P-1" or knee == "middle"
            else 0
        )
        code, change = self.call(
            lambda: cases.open_case(
                patient,
                knee,
                self.clinic.protocol,
                self.clinic.ops[who],
                None,
                utcnow(),
                self.clinic.uow(),
            )
        )
        assert code == expected, (code, change)
        if code:
            return multiple()  # nothing to add to the bundle
        case_id = change.case.case_id
        self.model[case_id] = ModelCase(case_id, knee)
        return int(case_id)

    # Two rules fire random steps, so that hypothesis, which picks rules evenly, tries many.
    @rule(case_id=cases, data=st.data())
    def step(self, case_id: int, data: st.DataObject) -> None:
        self.fire(case_id, data)

    @rule(case_id=cases, data=st.data())
    def another_step(self, case_id: int, data: st.DataObject) -> None:
        self.fire(case_id, data)

    @rule(case_id=cases, steps=st.integers(1, 9), data=st.data())
    def walk(self, case_id: int, steps: int, data: st.DataObject) -> None:
        """Forward steps in a row by the right person with good data, to reach the late states."""
        case = self.model.get(case_id)
        for _ in range(steps):
            if case is None or (case.state not in NEXT and case.state != "follow_up"):
                return
            trigger = NEXT.get(case.state, "record_follow_up")
            who = "surgeon" if trigger in ("assess", "inject") else "nurse"
            self.run(case_id, trigger, who, None, self.plan(case, trigger, who, None, data))
        # Then probe where the walk ended: the awaited step, with one defect or none.
        self.fire(case_id, data, forward_only=True)

    def fire(self, case_id: int, data: st.DataObject, forward_only: bool = False) -> None:
        """Any trigger on a case, by anyone, with or without one defect."""
        if not forward_only and data.draw(st.integers(0, 30), label="ghost") == 0:
            case_id = 999_999  # a case that does not exist: exit 3 before anything else
        case = self.model.get(case_id)
        state = case.state if case else "imaging_assessment"
        forward = [t for t in TRIGGERS if allowed(state, t) and t != "cancel"]
        defect: str | None = None
        if forward and (forward_only or data.draw(st.booleans(), label="forward")):
            # The step the case is waiting for, by the right person, with one defect or none.
            # Now and then a cancel, which is legal before follow-up and ends the case.
            cancel = ["cancel"] if allowed(state, "cancel") else []
            trigger = data.draw(st.sampled_from(forward * 4 + cancel), label="trigger")
            right = sorted(p for p in PEOPLE if ROLE_OF[p] in MAY[trigger])
            who = data.draw(st.sampled_from(right), label="who")
            defect = data.draw(st.sampled_from(DEFECTS), label="defect")
        else:
            # Anything at all: most of it out of order or by the wrong role.
            trigger = data.draw(st.sampled_from(TRIGGERS), label="trigger")
            who = data.draw(st.sampled_from(PEOPLE), label="who")
        attempt = Attempt({}, 3) if case is None else self.plan(case, trigger, who, defect, data)
        self.run(case_id, trigger, who, defect, attempt)

    def run(
        self, case_id: int, trigger: str, who: str, defect: str | None, attempt: Attempt
    ) -> None:
        """Fire through the service; compare the exit code; on success, move the model."""
        case = self.model.get(case_id)
        now = utcnow()
        at = None if attempt.at_offset is None else iso(now + attempt.at_offset)
        expected_version = (case.version - 1) if (case and attempt.stale) else None
        code, change = self.call(
            lambda: cases.fire(
                case_id,
                trigger,
                attempt.values,
                self.clinic.ops[who],
                at,
                now,
                self.clinic.uow(),
                expected_version=expected_version,
                verifier=self.clinic.ops[attempt.verifier] if attempt.verifier else None,
                reason=attempt.reason,
            )
        )
        assert code == attempt.expected, (trigger, who, defect, attempt, code, change)
        if code == 0 and case is not None:
            self.applied(case, trigger, attempt)
            Workflow.reached.add(case.state)

    @rule(
        command=st.sampled_from(["sign_in", "sign_in", "deactivate", "reset_pin"]),
        by=st.sampled_from(PEOPLE),
        whom=st.sampled_from([*PEOPLE, "ghost"]),
        right_pin=st.booleans(),
    )
    def operator_command(self, command: str, by: str, whom: str, right_pin: bool) -> None:
        """Sign-in (right or wrong PIN), or an admin command, by anyone on anyone."""
        if command == "sign_in":
            self.sign_in(by, right_pin)
        elif command == "deactivate":
            self.deactivate(by, whom)
        else:
            self.reset_pin(by, whom)

    def sign_in(self, who: str, right_pin: bool) -> None:
        pin = PINS[who] if right_pin else "0000"
        code, _ = self.call(
            lambda: sign_in(who, pin, self.clinic.protocol, utcnow(), self.clinic.uow())
        )
        if not self.active[who] or self.locked[who]:
            expected = 6
        elif right_pin:
            expected, self.failed[who] = 0, 0
        else:
            expected = 6
            self.failed[who] += 1
            self.locked[who] = self.failed[who] >= MAX_FAILED
        assert code == expected

    def deactivate(self, by: str, whom: str) -> None:
        code, _ = self.call(
            lambda: operators.deactivate(whom, self.clinic.ops[by], utcnow(), self.clinic.uow())
        )
        # SPEC §5 order: the target exists (3) before the role is checked (6).
        if whom == "ghost":
            expected = 3
        elif ROLE_OF[by] != "admin":
            expected = 6
        elif whom == by or not self.active[whom]:
            expected = 5
        else:
            expected, self.active[whom] = 0, False
        assert code == expected

    def reset_pin(self, by: str, whom: str) -> None:
        pin = PINS.get(whom, "5555")
        code, _ = self.call(
            lambda: operators.reset_pin(whom, pin, self.clinic.ops[by], utcnow(), self.clinic.uow())
        )
        expected = 3 if whom == "ghost" else 6 if ROLE_OF[by] != "admin" else 0
        if expected == 0:
            self.failed[whom], self.locked[whom] = 0, False
        assert code == expected

    @rule(case_id=cases)
    def status(self, case_id: int) -> None:
        code, status = self.call(
            lambda: queries.status(case_id, utcnow(), CaseLookup(self.clinic.engine))
        )
        case = self.model.get(case_id)
        if case is None:
            assert code == 3
            return
        assert code == 0
        assert (status["state"], status["entries"]) == (case.state, case.version)
        complete = case.arthroplasty or "24m" in case.visits
        follow_up_next = "close" if complete else "record_follow_up"
        assert status["next_step"] == (
            NEXT.get(case.state) or (follow_up_next if case.state == "follow_up" else None)
        )
        assert set(status["visits_recorded"]) == case.visits

    # -- what must hold after every step ----------------------------------------------------
    @invariant()
    def the_record_matches_the_model(self) -> None:
        if not hasattr(self, "model"):
            return
        # This example's cases are the newest rows (a refused open reserves no id).
        first = min(self.model, default=2**31 - 1)
        with self.clinic.engine.connect() as conn:
            rows = conn.execute(CASES_SINCE, {"first": first}).all()
            entries = conn.execute(ENTRIES_SINCE, {"first": first}).scalar_one()
            people = conn.execute(OPERATORS).all()
        assert {r[0]: (r[1], r[2]) for r in rows} == {
            c.case_id: (c.state, c.version) for c in self.model.values()
        }
        assert entries == sum(c.version for c in self.model.values())
        assert {r[0]: (r[1], bool(r[2]), bool(r[3])) for r in people} == {
            who: (self.failed[who], self.locked[who], self.active[who]) for who in PEOPLE
        }

    # -- the model --------------------------------------------------------------------------
    def call(self, action: Any) -> tuple[int, Any]:
        try:
            code, result = 0, action()
        except BmacError as exc:
            code, result = exc.exit_code, exc.message
        Workflow.codes[code] = Workflow.codes.get(code, 0) + 1
        return code, result

    def plan(
        self, case: ModelCase, trigger: str, who: str, defect: str | None, data: st.DataObject
    ) -> Attempt:
        """The values for `trigger` with `defect`, and the code the SPEC's order gives."""
        attempt = self.values(case, trigger, who, defect, data)
        attempt.stale = defect == "stale" and case.version > 1
        attempt.at_offset = {"future": timedelta(days=1), "before": timedelta(days=-1)}.get(
            defect or ""
        )
        for failed, code in (
            (ROLE_OF[who] not in MAY[trigger], 6),
            (attempt.stale, 7),
            (not allowed(case.state, trigger), 4),
            (attempt.at_offset is not None, 5),
        ):
            if failed:
                attempt.expected = code
                break
        return attempt

    def values(
        self, case: ModelCase, trigger: str, who: str, defect: str | None, data: st.DataObject
    ) -> Attempt:
        bad = defect == "bad_value"
        special = defect == "special"
        v = case.volumes
        if trigger == "assess":
            kl = data.draw(st.sampled_from([2, 3] * 3 + [1, 4]), label="kl")
            deformity = data.draw(st.sampled_from([False] * 4 + [True]), label="deformity")
            candidate = kl in (2, 3) and not deformity
            values: dict[str, Any] = {
                "kl_grade": 7 if bad else kl,
                "icrs_grade": 4,
                "imaging": ["xray", "mri"],
                "leg_deformity": deformity,
                "baseline_vas": 6,
            }
            if special:
                values["override_reason"] = "surgeon's judgement"
            if bad or (special and candidate):
                return Attempt(values, 5)
            dest = "marrow_collection" if candidate or special else "ineligible"
            return Attempt(values, 0, dest=dest)
        if trigger == "collect":
            values = {
                "side": case.knee,
                "aspirate_ml": 300 if bad else 60,
                "anticoagulant": "heparin",
                "kit_lot": "K-1",
                "specimen_id": f"SP-{case.case_id}",
            }
            return Attempt(values, 5 if bad else 0)
        if trigger == "filter":
            most = v.get("aspirate_ml", 60)
            return Attempt(
                {"filter_lot": "F", "filtered_ml": most + 10 if bad else most - 5}, 5 if bad else 0
            )
        if trigger == "centrifuge":
            values = {"device_id": "CF", "g_force": 1500, "duration_min": 10}
            if bad:
                values["rpm"] = 3000
            return Attempt(values, 5 if bad else 0)
        if trigger == "remove_plasma":
            filtered = v.get("filtered_ml", 55)
            return Attempt(
                {"plasma_removed_ml": filtered if bad else filtered - 10}, 5 if bad else 0
            )
        if trigger == "concentrate":
            return Attempt({"concentrate_ml": 0.1 if bad else 6}, 5 if bad else 0)
        if trigger == "inject":
            flaw = data.draw(st.sampled_from(["specimen", "knee", "self", "auditor"]), label="flaw")
            values = {
                "knee": case.knee,
                "injected_ml": 50 if bad else 5,
                "guidance": "ultrasound",
                "specimen_id": f"SP-{case.case_id}",
                "verifier_id": "nurse2",
            }
            verifier = "nurse2"
            if special and flaw == "specimen":
                values["specimen_id"] = "SP-OTHER"
            elif special and flaw == "knee":
                values["knee"] = "right" if case.knee == "left" else "left"
            elif special:
                verifier = who if flaw == "self" else "auditor"
                values["verifier_id"] = verifier
            expected = 5 if bad else 0
            if special and not bad:
                expected = 5 if flaw in ("specimen", "knee") else 6
            return Attempt(values, expected, verifier=verifier)
        if trigger == "record_follow_up":
            visit = data.draw(st.sampled_from(VISITS), label="visit")
            arthroplasty = special
            values = {"visit": visit, "vas": 11 if bad else 3, "arthroplasty": arthroplasty}
            if bad:
                return Attempt(values, 5)
            return Attempt(values, 4 if visit != "adhoc" and visit in case.visits else 0)
        if trigger == "cancel":
            return Attempt({}, 5 if bad else 0, reason=None if bad else "patient withdrew")
        # close: early only with a reason; without one, only when follow-up is complete
        complete = case.arthroplasty or "24m" in case.visits
        if special:
            return Attempt({}, 0 if complete else 4)
        return Attempt({}, 0, reason="closed early")

    def applied(self, case: ModelCase, trigger: str, attempt: Attempt) -> None:
        case.version += 1
        for key in ("aspirate_ml", "filtered_ml", "concentrate_ml"):
            if key in attempt.values:
                case.volumes[key] = attempt.values[key]
        if trigger == "record_follow_up":
            if attempt.values["visit"] != "adhoc":
                case.visits.add(attempt.values["visit"])
            case.arthroplasty |= bool(attempt.values.get("arthroplasty"))
            return
        case.state = (
            attempt.dest
            or AFTER.get(trigger)
            or {
                "cancel": "cancelled",
                "close": "closed",
            }[trigger]
        )


def _no_fsync(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA synchronous = OFF")


@pytest.mark.slow
def test_random_command_sequences_agree_with_the_model_of_the_workflow(
    clinic: Clinic,
) -> None:
    examples = EXAMPLES if clinic.engine.dialect.name == "sqlite" else max(EXAMPLES // 5, 1)
    Workflow.clinic, Workflow.runs, Workflow.codes, Workflow.reached = clinic, 0, {}, set()
    if clinic.engine.dialect.name == "sqlite":
        # The logic is under test here, not durability (the crash test covers that): skip the
        # fsync of every commit, which would otherwise dominate the run.
        event.listen(clinic.engine, "connect", _no_fsync)
        clinic.engine.dispose()
    run_state_machine_as_test(
        Workflow,
        settings=settings(
            max_examples=examples,
            stateful_step_count=25,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    calls = sum(Workflow.codes.values())
    print(
        f"\nstateful on {clinic.engine.dialect.name}: {Workflow.runs} examples, {calls} commands, "
        f"exit codes {dict(sorted(Workflow.codes.items()))}, states reached "
        f"{sorted(Workflow.reached)}"
    )
    assert Workflow.runs >= examples
