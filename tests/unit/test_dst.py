"""Local times around the DST changes of three zones: a time the clocks skipped or showed twice
is refused naming both offsets, any other means exactly one instant; windows are elapsed UTC
time. The zone is given, never the machine's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bmac_workflow.errors import InvalidData
from bmac_workflow.rules import minutes_between
from bmac_workflow.timeutil import parse_at

# (zone, a spring-forward day, a fall-back day) in 2026
CHANGES = [
    ("America/New_York", datetime(2026, 3, 8), datetime(2026, 11, 1)),
    ("Europe/Berlin", datetime(2026, 3, 29), datetime(2026, 10, 25)),
    ("Australia/Sydney", datetime(2026, 10, 4), datetime(2026, 4, 5)),
]


def _named(wall: datetime, zone: ZoneInfo) -> list[datetime]:
    """Every instant (15 min apart) whose wall time in `zone` is `wall`, by brute force."""
    found = []
    for minutes in range(-15 * 60, 15 * 60 + 1, 15):
        instant = wall.replace(tzinfo=UTC) + timedelta(minutes=minutes)
        if instant.astimezone(zone).replace(tzinfo=None) == wall:
            found.append(instant)
    return found


@settings(max_examples=300, deadline=None)
@given(
    change=st.sampled_from([(z, day) for z, spring, fall in CHANGES for day in (spring, fall)]),
    minutes=st.integers(min_value=-180, max_value=24 * 60 + 180).map(lambda m: m - m % 15),
)
def test_a_local_time_names_one_instant_or_is_refused_with_its_candidates(
    change: tuple[str, datetime], minutes: int
) -> None:
    name, day = change
    zone = ZoneInfo(name)
    wall = day + timedelta(minutes=minutes)
    truth = _named(wall, zone)
    text = wall.isoformat(timespec="minutes")
    if len(truth) == 1:
        assert parse_at(text, zone) == truth[0]
        return
    with pytest.raises(InvalidData) as refused:
        parse_at(text, zone)
    message = refused.value.message
    assert ("ambiguous" if truth else "does not exist") in message
    # Both offsets are named, and either one, given, is taken as typed.
    offered = [part.strip(" ,.") for part in message.split(text)[-2:]]
    for offset_text in offered:
        spelled = text + offset_text.split()[0]
        chosen = parse_at(spelled, zone)
        assert chosen.astimezone(zone).replace(tzinfo=None) == wall or not truth


@given(
    change=st.sampled_from([(z, day) for z, spring, fall in CHANGES for day in (spring, fall)]),
    start=st.integers(min_value=0, max_value=24 * 60),
    length=st.integers(min_value=0, max_value=300),
)
def test_a_window_across_a_dst_change_is_elapsed_time(
    change: tuple[str, datetime], start: int, length: int
) -> None:
    name, day = change
    begin = day.replace(tzinfo=UTC) + timedelta(minutes=start)
    end = begin + timedelta(minutes=length)
    # Whatever the wall clocks of the zone showed, the minutes are the real ones.
    zone = ZoneInfo(name)
    assert minutes_between(begin.astimezone(zone), end.astimezone(zone)) == length
