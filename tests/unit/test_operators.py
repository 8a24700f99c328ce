"""Operators without a database: PIN hashing and the lockout rule."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bmac_workflow import operators as people
from bmac_workflow.errors import InvalidData
from bmac_workflow.operators import (
    Operator,
    SignInLimits,
    SignInOutcome,
    check_new_operator,
    hash_pin,
    refusal,
)
from bmac_workflow.timeutil import iso

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
PIN = "Kx7-pin-3318"


def operator(pin: str = PIN, **kw: object) -> Operator:
    return replace(Operator("nurse.kim", "Kim Ji-woo", "nurse", True, hash_pin(pin)), **kw)  # type: ignore[arg-type]


def attempt(
    op: Operator, pin: str, now: datetime, max_failed: int = 5, lock_minutes: float = 15
) -> SignInOutcome:
    """One PIN attempt as the sign-in makes it: the PIN checked unless the operator is locked."""
    ok = not op.locked_at(now) and people.pin_matches(op.pin_hash, pin)
    return people.attempt(op, ok, now, SignInLimits(max_failed, lock_minutes))


def wrong_pins(op: Operator, n: int, now: datetime = T0) -> tuple[Operator, list[str]]:
    """Try `n` wrong PINs in a row, storing each outcome as the service does."""
    events: list[str] = []
    for _ in range(n):
        out = attempt(op, "wrong-pin", now, max_failed=5, lock_minutes=15)
        assert not out.ok
        op = replace(op, failed_pins=out.failed_pins, locked_until=out.locked_until)
        events += [action for action, _ in out.events]
    return op, events


# -- PINs ----------------------------------------------------------------------------------


def test_a_pin_is_stored_as_an_argon2id_hash_that_does_not_contain_it() -> None:
    hashed = hash_pin(PIN)
    assert hashed.startswith("$argon2id$v=19$")
    assert PIN not in hashed
    assert people.pin_matches(hashed, PIN)
    assert not people.pin_matches(hashed, PIN + "x")


def test_the_shipped_hasher_is_argon2id_with_rfc_9106_costs() -> None:
    # The tests run a cheap hasher (conftest); the one the product ships is built here.
    shipped = people.pin_hasher()
    assert shipped.type.name == "ID"
    assert (shipped.time_cost, shipped.memory_cost, shipped.parallelism) >= (3, 65536, 4)


@pytest.mark.parametrize("pin", ["123", "", "12 34", " 1234", "1234\n", "x" * 129])
def test_a_pin_that_is_too_short_too_long_or_has_spaces_is_refused(pin: str) -> None:
    with pytest.raises(InvalidData) as info:
        hash_pin(pin)
    assert info.value.exit_code == 5
    if pin.strip():
        assert pin.strip() not in info.value.message


def test_a_garbage_hash_never_matches_and_never_raises() -> None:
    assert not people.pin_matches("not-a-hash", PIN)


def test_a_hash_made_with_other_costs_is_upgraded_after_a_right_pin() -> None:
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=512, parallelism=1).hash(PIN)
    upgraded = people.hash_rehashed(weak, PIN)
    assert upgraded is not None and people.pin_matches(upgraded, PIN)
    assert people.hash_rehashed(upgraded, PIN) is None


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
    out = attempt(op, PIN, T0, 5, 15)
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
    out = attempt(op, PIN, T0 + timedelta(minutes=14, seconds=59), 5, 15)
    assert not out.ok and out.events == ()
    error = refusal(op, out, 5)
    assert error.exit_code == 6 and "locked" in error.message and PIN not in error.message


def test_after_the_period_the_right_pin_signs_in_and_the_release_is_recorded() -> None:
    op, _ = wrong_pins(operator(), 5)
    out = attempt(op, PIN, T0 + timedelta(minutes=15, seconds=1), 5, 15)
    assert out.ok and out.failed_pins == 0 and out.locked_until is None
    assert [action for action, _ in out.events] == ["unlocked"]
    assert out.events[0][1]["reason"] == "lock period passed"


def test_after_the_period_a_wrong_pin_releases_the_lock_and_counts_from_one() -> None:
    op, _ = wrong_pins(operator(), 5)
    out = attempt(op, "wrong-pin", T0 + timedelta(minutes=16), 5, 15)
    assert not out.ok
    assert (out.failed_pins, out.locked_until) == (1, None)
    assert [action for action, _ in out.events] == ["unlocked"]


def test_the_limit_and_period_come_from_the_caller_not_constants() -> None:
    op = operator()
    for _ in range(2):
        out = attempt(op, "bad!", T0, max_failed=2, lock_minutes=1)
        op = replace(op, failed_pins=out.failed_pins, locked_until=out.locked_until)
    assert op.locked_until == iso(T0 + timedelta(minutes=1))
    assert attempt(op, PIN, T0 + timedelta(seconds=61), 2, 1).ok


def test_no_refusal_message_contains_the_pin_tried() -> None:
    op = operator()
    for n in range(1, 7):
        out = attempt(op, "Guess-77341", T0, 5, 15)
        op = replace(op, failed_pins=out.failed_pins, locked_until=out.locked_until)
        assert "Guess-77341" not in refusal(op, out, 5).message, n
        for _, detail in out.events:
            assert "Guess-77341" not in str(detail)
