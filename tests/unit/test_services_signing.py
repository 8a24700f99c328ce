"""Signing in through the services, on a fake unit of work: wrong PINs are counted and the fifth
locks, the injection's verifier is asked for a PIN only when the step could happen, and a case
that moves while a PIN is typed is a conflict."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bmac_workflow.errors import BmacError, Conflict, InvalidData, NotAllowed, NotPermitted
from bmac_workflow.services import operators
from bmac_workflow.services.cases import Change
from bmac_workflow.services.signing import Credentials, sign_in
from bmac_workflow.timeutil import iso
from tests.unit.fake_clinic import FakeClinic, PinAsked
from tests.walk import PINS, step_values

WRONG = "605148"


@pytest.fixture
def clinic() -> FakeClinic:
    return FakeClinic()


def wrong_pin(clinic: FakeClinic, who: str = "nurse") -> str:
    with pytest.raises(NotPermitted) as refused:
        sign_in(Credentials(who, lambda: WRONG), clinic.clock(), clinic.db)
    return refused.value.message


def test_each_wrong_pin_is_counted_and_says_how_many_tries_are_left(clinic: FakeClinic) -> None:
    messages = [wrong_pin(clinic) for _ in range(4)]
    assert messages == [
        "wrong PIN for operator nurse (4 tries left before a lock)",
        "wrong PIN for operator nurse (3 tries left before a lock)",
        "wrong PIN for operator nurse (2 tries left before a lock)",
        "wrong PIN for operator nurse (1 try left before a lock)",
    ]
    assert clinic.operator("nurse").failed_pins == 4
    assert clinic.operator("nurse").locked_until is None


def test_the_fifth_wrong_pin_locks_the_operator_even_against_the_right_pin(
    clinic: FakeClinic,
) -> None:
    for _ in range(4):
        wrong_pin(clinic)
    assert wrong_pin(clinic).startswith("operator nurse is locked after 5 wrong PINs until")
    locked = clinic.operator("nurse")
    assert locked.locked_until == iso(clinic.clock() + timedelta(minutes=15))
    assert clinic.events("nurse") == ["added", "locked"]
    clinic.clock.advance(14)
    with pytest.raises(NotPermitted, match="is locked after 5 wrong PINs"):
        clinic.open(who="nurse")
    assert clinic.operator("nurse") == locked


def test_once_the_lock_has_run_out_the_right_pin_signs_and_clears_the_count(
    clinic: FakeClinic,
) -> None:
    for _ in range(5):
        wrong_pin(clinic)
    clinic.clock.advance(15.1)
    clinic.open(who="nurse")
    assert (clinic.operator("nurse").failed_pins, clinic.operator("nurse").locked_until) == (
        0,
        None,
    )
    assert clinic.events("nurse") == ["added", "locked", "unlocked"]


def test_a_right_pin_clears_the_count_in_the_step_s_own_unit_of_work(clinic: FakeClinic) -> None:
    case_id = clinic.open()
    for _ in range(3):
        wrong_pin(clinic, "surgeon")
    committed = clinic.db.committed_writes()
    clinic.fire(case_id, "assess", step_values("assess", case_id), "surgeon")
    assert clinic.operator("surgeon").failed_pins == 0
    assert clinic.db.committed_writes() == committed + 1


def test_the_right_pin_on_a_refused_step_still_clears_the_count(clinic: FakeClinic) -> None:
    case_id = clinic.open()
    for _ in range(3):
        wrong_pin(clinic)
    with pytest.raises(NotAllowed):
        clinic.fire(case_id, "filter", step_values("filter", case_id), "nurse")
    assert clinic.operator("nurse").failed_pins == 0
    assert clinic.state_of(case_id) == "imaging_assessment"


@pytest.mark.parametrize(
    ("who", "pin", "message"),
    [
        ("ghost", PINS["nurse"], "sign-in failed: there is no operator 'ghost'"),
        ("nurse", None, "this command needs the PIN of operator nurse"),
        (None, PINS["nurse"], "this command needs an operator"),
    ],
)
def test_a_sign_in_without_a_known_operator_or_a_pin_is_6(
    clinic: FakeClinic, who: str | None, pin: str | None, message: str
) -> None:
    with pytest.raises(NotPermitted, match=message):
        sign_in(Credentials(who, lambda: pin), clinic.clock(), clinic.db)


def test_a_deactivated_operator_can_no_longer_sign(clinic: FakeClinic) -> None:
    operators.deactivate("nurse2", clinic.credentials("admin"), clinic.clock, clinic.db)
    with pytest.raises(NotPermitted, match="operator nurse2 is deactivated and can no longer sign"):
        clinic.open(who="nurse2")


def test_no_pin_is_asked_of_nobody(clinic: FakeClinic) -> None:
    asked = PinAsked(PINS["nurse"])
    with pytest.raises(NotPermitted):
        sign_in(Credentials(None, asked), clinic.clock(), clinic.db)
    assert asked.calls == 0


def at_injection(clinic: FakeClinic) -> int:
    case_id = clinic.open()
    clinic.walk(case_id, "injection")
    return case_id


def inject(
    clinic: FakeClinic,
    case_id: int,
    verifier: Credentials,
    who: str = "surgeon",
    minutes: float = 10,
    **changes: Any,
) -> Change:
    """The surgeon injects case `case_id` with its happy values (and `changes`)."""
    values = {**step_values("inject", case_id), **changes}
    return clinic.fire(case_id, "inject", values, who, verifier=verifier, minutes=minutes)


def test_the_verifier_is_asked_for_their_pin_once_on_an_injection_that_happens(
    clinic: FakeClinic,
) -> None:
    case_id = at_injection(clinic)
    asked = PinAsked(PINS["nurse2"])
    change = inject(clinic, case_id, Credentials("nurse2", asked))
    assert asked.calls == 1
    assert change.entry.verifier is not None and change.entry.verifier.id == "nurse2"


@pytest.mark.parametrize(
    ("changes", "who", "minutes", "error"),
    [
        ({"specimen_id": "SP-9"}, "surgeon", 10, InvalidData),
        ({"knee": "right"}, "surgeon", 10, InvalidData),
        ({"injected_ml": 50}, "surgeon", 10, InvalidData),
        ({}, "surgeon", 200, NotPermitted),
        ({}, "nurse", 10, NotPermitted),
    ],
    ids=["specimen", "knee", "volume", "window", "role"],
)
def test_the_verifier_is_not_asked_for_a_pin_on_an_injection_that_cannot_happen(
    clinic: FakeClinic, changes: dict[str, Any], who: str, minutes: int, error: type[BmacError]
) -> None:
    case_id = at_injection(clinic)
    asked = PinAsked(WRONG)  # a wrong PIN: it would count towards the verifier's lock
    with pytest.raises(error):
        inject(clinic, case_id, Credentials("nurse2", asked), who, minutes, **changes)
    assert asked.calls == 0
    assert clinic.operator("nurse2").failed_pins == 0


def test_the_verifier_is_not_asked_before_the_case_reaches_the_injection(
    clinic: FakeClinic,
) -> None:
    case_id = clinic.open()
    asked = PinAsked(PINS["nurse2"])
    with pytest.raises(NotAllowed):
        inject(clinic, case_id, Credentials("nurse2", asked))
    assert asked.calls == 0


def test_a_surgeon_who_names_themselves_as_verifier_is_refused_without_a_second_pin(
    clinic: FakeClinic,
) -> None:
    case_id = at_injection(clinic)
    asked = PinAsked(PINS["surgeon"])
    with pytest.raises(NotPermitted, match="must be a second operator, not the one who injects"):
        inject(clinic, case_id, Credentials("surgeon", asked), verifier_id="surgeon")
    assert asked.calls == 0 and clinic.state_of(case_id) == "injection"


def test_a_wrong_verifier_pin_counts_against_the_verifier_and_logs_nothing(
    clinic: FakeClinic,
) -> None:
    case_id = at_injection(clinic)
    before = clinic.db.tables.entries.copy()
    with pytest.raises(NotPermitted, match="wrong PIN for operator nurse2"):
        inject(clinic, case_id, Credentials("nurse2", lambda: WRONG))
    assert (clinic.operator("nurse2").failed_pins, clinic.operator("surgeon").failed_pins) == (1, 0)
    assert clinic.db.tables.entries == before


def test_the_verifier_named_in_the_injection_is_the_one_who_signs_it(clinic: FakeClinic) -> None:
    case_id = at_injection(clinic)
    try:  # the values name nurse2 as the verifier; nurse signs with her own PIN
        change = inject(clinic, case_id, clinic.credentials("nurse"))
    except BmacError:
        return  # refused: the record cannot disagree with itself
    assert change.entry.verifier is not None
    assert change.entry.data["verifier_id"] == change.entry.verifier.id


def test_a_case_that_moves_while_the_pin_is_typed_is_a_conflict_and_nothing_is_written(
    clinic: FakeClinic,
) -> None:
    case_id = clinic.open()
    clinic.walk(case_id, "filtering")
    values = step_values("filter", case_id)

    def meanwhile() -> str:
        clinic.fire(case_id, "filter", values, "nurse2")
        return PINS["nurse"]

    with pytest.raises(Conflict) as refused:
        clinic.fire(case_id, "filter", values, "nurse", pin=meanwhile)
    assert refused.value.exit_code == 7
    assert f"case {case_id} changed under you: nurse2 logged filter at" in refused.value.message
    with clinic.db.read() as uow:
        signers = [e.signer.id for e, _ in uow.repo.entries(case_id) if e.action == "filter"]
    assert signers == ["nurse2"]
