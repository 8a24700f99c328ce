"""The board's countdown, made on whole microseconds, is the rule's own figure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bmac_workflow import rules
from bmac_workflow.services.board import _micros, countdown, minutes_left, row_at

HARVESTS = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
)


@given(
    harvested=HARVESTS,
    elapsed=st.integers(min_value=-86_400_000_000, max_value=3 * 86_400_000_000),
    window=st.sampled_from([60, 90, 120, 180, 240]),
)
def test_the_board_counts_the_minutes_left_as_the_rule_does(
    harvested: datetime, elapsed: int, window: int
) -> None:
    now = harvested + timedelta(microseconds=elapsed)
    protocol: Any = SimpleNamespace(window_minutes=window)
    expected = rules.window_minutes_left(harvested, now, protocol)
    assert minutes_left(_micros(harvested), _micros(now), window) == expected


def test_whole_minutes_and_seconds_land_on_the_rule_s_figures() -> None:
    harvested = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
    for minutes in (0, 60, 90, 100, 120, 130):
        now = harvested + timedelta(minutes=minutes)
        assert minutes_left(_micros(harvested), _micros(now), 120) == 120 - minutes


@given(
    updated=st.integers(min_value=0, max_value=10**12),
    harvested=st.one_of(st.none(), st.integers(min_value=0, max_value=10**12)),
    elapsed=st.integers(min_value=0, max_value=3 * 86_400_000_000),
    window=st.sampled_from([60, 90, 120, 180, 240]),
)
def test_a_row_holds_until_the_instant_row_at_gives_and_no_longer(
    updated: int, harvested: int | None, elapsed: int, window: int
) -> None:
    # The board keeps a case's row from the view that made it until `until`: every instant in
    # between shows the same minutes, countdown and colour (they only move one way, so the
    # last instant is enough), and a few seconds after it they have moved.
    case: Any = SimpleNamespace(updated=updated, harvested=harvested, window=float(window))
    at = max(updated, harvested or 0) + elapsed
    shown = row_at(case, at)
    minutes, left, colour, until = shown
    assert minutes == (at - updated) // 60_000_000
    if harvested is None:
        assert (left, colour) == (None, None)
    else:
        exact = minutes_left(harvested, at, window)
        assert (left, colour) == (int(exact // 1), countdown(exact))
    assert until > at
    assert row_at(case, until - 1)[:3] == shown[:3]
    assert row_at(case, until + 4_000_000)[:3] != shown[:3]
