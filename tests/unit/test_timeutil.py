"""Stored times: one fixed-width UTC text that sorts as time does and reads back exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from bmac_workflow.timeutil import from_iso, iso

INSTANTS = st.datetimes(
    min_value=datetime(1900, 1, 2), max_value=datetime(9998, 12, 30), timezones=st.just(UTC)
)
ZONES = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@given(INSTANTS, ZONES)
def test_iso_is_the_documented_format_whatever_the_zone(instant: datetime, zone: timezone) -> None:
    text = iso(instant.astimezone(zone))
    assert text == instant.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert len(text) == 27
    assert from_iso(text) == instant


@given(INSTANTS, INSTANTS)
def test_stored_times_sort_as_the_instants_do(a: datetime, b: datetime) -> None:
    assert (iso(a) < iso(b)) == (a < b)
