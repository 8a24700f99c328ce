"""Opening a case and logging its steps through the services, on a fake unit of work: the happy
walk, the README's order of checks, and a refused step that writes nothing."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from bmac_workflow import keys
from bmac_workflow.checks import check_case_row, check_chain
from bmac_workflow.errors import BmacError, InvalidData, NotAllowed, NotFound, NotPermitted
from bmac_workflow.record import Meaning, Signature
from bmac_workflow.services.verification import verify
from bmac_workflow.states import workflow
from tests.unit.fake_clinic import FakeClinic
from tests.walk import happy_steps, step_values


@pytest.fixture
def clinic() -> FakeClinic:
    return FakeClinic()


def at_injection(clinic: FakeClinic) -> int:
    case_id = clinic.open()
    clinic.walk(case_id, "injection")
    return case_id


def test_a_happy_case_walks_from_its_opening_to_follow_up(clinic: FakeClinic) -> None:
    case_id = clinic.open("P-0042")
    clinic.walk(case_id)
    with clinic.db.read() as uow:
        case, _ = uow.repo.get_case(case_id) or (None, None)
        entries = [entry for entry, _ in uow.repo.entries(case_id)]
    assert case is not None
    assert (case.state, case.version, case.patient_ref) == ("follow_up", 8, "P-0042")
    assert [e.action for e in entries] == ["open", *(t for t, _, _ in happy_steps(case_id))]
    assert [e.signer.id for e in entries] == ["nurse", "surgeon", *["nurse"] * 5, "surgeon"]
    nurse2_key = clinic.operator("nurse2").public_key
    assert entries[-1].verifier == Signature(
        "nurse2", "Nurse2 Name", "nurse", Meaning.VERIFIED, nurse2_key
    )
    for entry in entries:  # each signed by its signer's key, the injection by its verifier's too
        signatures = entry.signatures or {}
        assert set(signatures) == ({"signer", "verifier"} if entry.verifier else {"signer"})
        for role, signature in signatures.items():
            who = getattr(entry, role)
            assert keys.verifies(who.key, entry.content(), signature)
    visits = [row.visit for row in clinic.db.tables.due_visits[case_id]]
    assert visits == ["1w", "1m", "3m", "6m", "12m", "24m"]


def test_the_audit_finds_nothing_wrong_in_a_record_the_services_wrote(clinic: FakeClinic) -> None:
    case_id = clinic.open()
    clinic.walk(case_id)
    with clinic.db.read() as uow:
        stored = [(seq, body, h) for _, seq, body, h in uow.repo.entry_rows(case_id)]
        row = uow.repo.case_rows_for_audit(case_id)[case_id]
    problems, entries, head = check_chain(case_id, stored)
    assert problems == [] and head == row.head_hash
    assert check_case_row(row, case_id, entries, head) == []
    assert verify(clinic.db) == []


def write_units(clinic: FakeClinic) -> tuple[int, int]:
    """How many write units of work were opened, and how many of them committed."""
    opened = [unit for unit in clinic.db.units if unit.write]
    return len(opened), sum(unit.committed for unit in opened)


def test_each_happy_step_is_written_in_exactly_one_unit_of_work(clinic: FakeClinic) -> None:
    case_id = clinic.open()
    for trigger, who, values in happy_steps(case_id):
        opened, committed = write_units(clinic)
        clinic.fire(case_id, trigger, values, who, verifier=values.get("verifier_id"))
        assert write_units(clinic) == (opened + 1, committed + 1), trigger


def test_a_wrong_pin_is_refused_before_the_case_is_looked_at(clinic: FakeClinic) -> None:
    with pytest.raises(NotPermitted, match="wrong PIN for operator surgeon"):
        clinic.fire(99, "assess", step_values("assess", 99), "surgeon", pin="0000")


def test_a_case_that_does_not_exist_is_3_whoever_asks(clinic: FakeClinic) -> None:
    with pytest.raises(NotFound) as refused:
        clinic.fire(99, "inject", {}, "auditor")
    assert (refused.value.exit_code, refused.value.message) == (
        3,
        "no case 99: see `bmac case list`",
    )


def test_a_role_that_may_not_take_the_step_is_6_before_the_state_and_the_data(
    clinic: FakeClinic,
) -> None:
    case_id = clinic.open()
    with pytest.raises(NotPermitted) as refused:
        clinic.fire(case_id, "inject", {"injected_ml": -1}, "nurse")
    assert refused.value.message.startswith("a nurse may not inject: it needs a surgeon")


def test_a_step_the_state_does_not_allow_is_4_and_names_the_allowed_next_commands(
    clinic: FakeClinic,
) -> None:
    case_id = clinic.open()
    with pytest.raises(NotAllowed) as refused:
        clinic.fire(case_id, "filter", {"filtered_ml": -1}, "nurse")
    assert refused.value.exit_code == 4
    assert refused.value.message == (
        "bmac step filtering is not allowed in state imaging_assessment; "
        "allowed next: bmac case assess, bmac case cancel"
    )


def test_bad_data_is_5_even_when_the_window_has_passed_too(clinic: FakeClinic) -> None:
    case_id = at_injection(clinic)
    values = {**step_values("inject", case_id), "injected_ml": 50}
    with pytest.raises(InvalidData, match="--injected-ml 50 is more than the concentrate volume"):
        clinic.fire(case_id, "inject", values, "surgeon", verifier="nurse2", minutes=200)


def test_past_the_window_the_injection_is_6_unless_a_surgeon_overrides_it(
    clinic: FakeClinic,
) -> None:
    case_id = at_injection(clinic)
    values = step_values("inject", case_id)
    with pytest.raises(NotPermitted) as refused:
        clinic.fire(case_id, "inject", values, "surgeon", verifier="nurse2", minutes=200)
    assert refused.value.message.startswith("harvest-to-injection window passed: 240 min")
    late = {**values, "override_reason": "theatre delayed by an emergency"}
    change = clinic.fire(case_id, "inject", late, "surgeon", verifier="nurse2", minutes=0)
    assert change.entry.signer.meaning == Meaning.OVERRIDDEN
    assert change.entry.data["overridden"] is True
    assert change.entry.data["minutes_since_harvest"] == 240


def test_a_surgeon_verifying_their_own_late_injection_is_told_about_the_verifier_first(
    clinic: FakeClinic,
) -> None:
    case_id = at_injection(clinic)
    values = {**step_values("inject", case_id), "verifier_id": "surgeon"}
    with pytest.raises(NotPermitted) as refused:
        clinic.fire(case_id, "inject", values, "surgeon", verifier="surgeon", minutes=200)
    assert "the verifier (--verifier ID) must be a second operator" in refused.value.message


def refusals() -> list[tuple[str, str, dict[str, Any], str, type[BmacError]]]:
    inject = step_values("inject", 1)
    return [
        ("injection", "inject", {**inject, "specimen_id": "SP-9"}, "surgeon", InvalidData),
        ("injection", "inject", {**inject, "knee": "right"}, "surgeon", InvalidData),
        ("injection", "inject", inject, "nurse", NotPermitted),
        ("follow_up", "record_follow_up", {"visit": "2y", "vas": 3}, "nurse", InvalidData),
        ("filtering", "filter", {"filter_lot": "F-1", "filtered_ml": 61}, "nurse", InvalidData),
        ("filtering", "assess", step_values("assess", 1), "surgeon", NotAllowed),
        ("filtering", "cancel", {}, "surgeon", InvalidData),  # no reason given
        ("follow_up", "close", {}, "surgeon", NotAllowed),  # follow-up not finished
    ]


@pytest.mark.parametrize(
    ("state", "trigger", "values", "who", "error"),
    refusals(),
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_a_refused_step_writes_nothing(
    clinic: FakeClinic,
    state: str,
    trigger: str,
    values: dict[str, Any],
    who: str,
    error: type[BmacError],
) -> None:
    case_id = clinic.open()
    clinic.walk(case_id, state)
    before, committed = clinic.db.tables.copy(), clinic.db.committed_writes()
    with pytest.raises(error):
        clinic.fire(case_id, trigger, values, who, verifier="nurse2")
    # Nothing of the step; a guard's refusal of an injection is kept in the refusals log alone.
    kept = len(clinic.db.tables.refusals) - len(before.refusals)
    assert kept == (1 if trigger == "inject" and who == "surgeon" else 0)  # a guard, not the role
    assert dataclasses.replace(clinic.db.tables, refusals=before.refusals) == before
    assert clinic.db.committed_writes() == committed + kept


def test_a_case_opened_is_waiting_for_its_assessment(clinic: FakeClinic) -> None:
    case_id = clinic.open()
    assert clinic.state_of(case_id) == workflow().states[0] == "imaging_assessment"
    with clinic.db.read() as uow:
        ((opened, _),) = uow.repo.entries(case_id)
    assert opened.data["protocol_version"] == "bmac-knee-2026.4"


@pytest.mark.parametrize(
    ("patient", "knee", "who", "error"),
    [
        ("900101-1234567", "left", "nurse", InvalidData),
        ("P-1", "both", "nurse", InvalidData),
        ("P-1", "left", "auditor", NotPermitted),
    ],
)
def test_a_case_that_may_not_be_opened_writes_nothing(
    clinic: FakeClinic, patient: str, knee: str, who: str, error: type[BmacError]
) -> None:
    before = clinic.db.tables.copy()
    with pytest.raises(error):
        clinic.open(patient, knee, who)
    assert clinic.db.tables == before
