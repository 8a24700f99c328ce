"""Operators without a database: the PIN rules and the lockout rule."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bmac_workflow import operators as people
from bmac_workflow.errors import InvalidData
from bmac_workflow.operators import (
    Operator,
    SignInLimits,
    SignInOutcome,
    check_new_operator,
    check_new_pin,
    refusal,
)
from bmac_workflow.settings import MAX_LOCK_MINUTES
from bmac_workflow.timeutil import iso

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def operator(**kw: object) -> Operator:
    return replace(Operator("nurse.kim", "Kim Ji-woo", "nurse", True), **kw)  # type: ignore[arg-type]


def attempt(
    op: Operator, pin_ok: bool, now: datetime, max_failed: int = 5, lock_minutes: float = 15
) -> SignInOutcome:
    """One PIN attempt as the sign-in makes it: the PIN counts only if the operator is not
    locked (the sign-in does not even try it then)."""
    ok = not op.locked_at(now) and pin_ok
    return people.attempt(op, ok, now, SignInLimits(max_failed, lock_minutes))


def wrong_pins(op: Operator, n: int, now: datetime = T0) -> tuple[Operator, list[str]]:
    """Try `n` wrong PINs in a row, storing each outcome as the service does."""
    events: list[str] = []
    for _ in range(n):
        out = attempt(op, False, now, max_failed=5, lock_minutes=15)
        assert not out.ok
        op = replace(op, failed_pins=out.failed_pins, locked_until=out.locked_until)
        events += [action for action, _ in out.events]
    return op, events


# -- the PIN rules -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pin", "why"),
    [
        ("12345", "6 to 128 characters"),
        ("", "6 to 128 characters"),
        ("x" * 129, "6 to 128 characters"),
        ("4815 16", "no spaces"),
        ("555555", "one character repeated"),
        ("aaaaaaaa", "one character repeated"),
        ("234567", "run"),
        ("876543", "run"),
        ("890123", "run"),
        ("321098", "run"),
        ("abcdefg", "run"),
        ("nurse.kim", "the operator's id"),
        ("NURSE.KIM", "the operator's id"),
    ],
)
def test_a_guessable_pin_is_refused_with_the_rule_it_breaks(pin: str, why: str) -> None:
    with pytest.raises(InvalidData) as info:
        check_new_pin(pin, "nurse.kim")
    assert info.value.exit_code == 5
    assert why in info.value.message
    if len(pin) >= 6 and pin.strip():
        assert pin not in info.value.message


@pytest.mark.parametrize("pin", ["481516", "135792", "112358", "Kx7-pin-3318", "123457"])
def test_a_pin_that_breaks_no_rule_is_accepted(pin: str) -> None:
    check_new_pin(pin, "nurse.kim")


@given(st.text(alphabet="0123456789", min_size=6, max_size=12))
def test_every_digit_pin_of_six_or_more_is_judged_by_the_rules_and_nothing_else(pin: str) -> None:
    ups = {(int(b) - int(a)) % 10 for a, b in pairwise(pin)}
    guessable = len(set(pin)) == 1 or ups in ({1}, {9})
    try:
        check_new_pin(pin, "nurse.kim")
    except InvalidData:
        assert guessable
    else:
        assert not guessable


# -- operators -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op_id", "name", "role"),
    [
        ("", "A", "nurse"),
        ("has space", "A", "nurse"),
        ("-x", "A", "nurse"),
        ("ok", "  ", "nurse"),
        ("ok", "A", "doctor"),
        ("x" * 65, "A", "nurse"),
    ],
)
def test_a_malformed_id_an_empty_name_or_an_unknown_role_is_invalid_data(
    op_id: str, name: str, role: str
) -> None:
    with pytest.raises(InvalidData):
        check_new_operator(op_id, name, role)


def test_a_well_formed_operator_passes() -> None:
    check_new_operator("dr.park-2_b", "Park Seo-jun", "surgeon")


# -- lockout -------------------------------------------------------------------------------


def test_the_right_pin_signs_in_and_clears_earlier_failures() -> None:
    op, _ = wrong_pins(operator(), 3)
    out = attempt(op, True, T0, 5, 15)
    assert (out.ok, out.failed_pins, out.locked_until, out.events) == (True, 0, None, ())


def test_four_wrong_pins_count_down_and_do_not_lock() -> None:
    op, events = wrong_pins(operator(), 4)
    assert (op.failed_pins, op.locked_until, events) == (4, None, [])
    message = refusal(op, SignInOutcome(False, 4, None, ()), 5).message
    assert "1 try left before a lock" in message


def test_the_fifth_wrong_pin_locks_for_the_protocol_period_and_records_it() -> None:
    op, events = wrong_pins(operator(), 5)
    assert op.locked_until == iso(T0 + timedelta(minutes=15))
    assert events == ["locked"]


def test_a_locked_operator_is_refused_even_with_the_right_pin() -> None:
    op, _ = wrong_pins(operator(), 5)
    out = attempt(op, True, T0 + timedelta(minutes=14, seconds=59), 5, 15)
    assert not out.ok and out.events == ()
    error = refusal(op, out, 5)
    assert error.exit_code == 6 and "locked" in error.message
    assert "bmac operator unlock nurse.kim" in error.message


def test_after_the_period_the_right_pin_signs_in_and_the_release_is_recorded() -> None:
    op, _ = wrong_pins(operator(), 5)
    out = attempt(op, True, T0 + timedelta(minutes=15, seconds=1), 5, 15)
    assert out.ok and out.failed_pins == 0 and out.locked_until is None
    assert [action for action, _ in out.events] == ["unlocked"]
    assert out.events[0][1]["reason"] == "lock period passed"


def test_after_the_period_a_wrong_pin_releases_the_lock_and_counts_from_one() -> None:
    op, _ = wrong_pins(operator(), 5)
    out = attempt(op, False, T0 + timedelta(minutes=16), 5, 15)
    assert not out.ok
    assert (out.failed_pins, out.locked_until) == (1, None)
    assert [action for action, _ in out.events] == ["unlocked"]


def test_the_limit_and_period_come_from_the_caller_not_constants() -> None:
    op = operator()
    for _ in range(2):
        out = attempt(op, False, T0, max_failed=2, lock_minutes=1)
        op = replace(op, failed_pins=out.failed_pins, locked_until=out.locked_until)
    assert op.locked_until == iso(T0 + timedelta(minutes=1))
    assert attempt(op, True, T0 + timedelta(seconds=61), 2, 1).ok


@pytest.mark.parametrize("years", [1, 190])
def test_a_lock_further_off_than_the_bound_is_not_honoured(years: int) -> None:
    # A lock no setting could have made (written into the table) locks nobody out.
    op = operator(failed_pins=5, locked_until=iso(T0 + timedelta(days=365 * years)))
    assert not op.locked_at(T0)
    bound = operator(locked_until=iso(T0 + timedelta(minutes=MAX_LOCK_MINUTES)))
    assert bound.locked_at(T0)
