"""Time: UTC in storage, timezone-aware in code, local in display."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo

from .errors import InvalidData

# No clinical time of this record is older: an earlier `--at` is a typing slip (year 1, 1900).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


def utcnow() -> datetime:
    """The current time, UTC, aware."""
    return datetime.now(UTC)


def parse_at(text: str, zone: tzinfo | None = None) -> datetime:
    """Parse an ISO 8601 time; a time without an offset is local time (in `zone`, default this
    machine's), refused when the clocks skipped it or showed it twice that night. A time
    before 2000 or beyond what a date can hold is refused too (exit 5)."""
    try:
        value = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        raise InvalidData(
            f"--at {text[:40]!r} is not an ISO 8601 time: use e.g. 2026-11-25T09:30 or "
            "2026-11-25T09:30+09:00"
        ) from None
    try:
        if value.tzinfo is None:
            value = _local(text, value, zone)
        value = value.astimezone(UTC)
    except (OverflowError, ValueError, OSError):
        raise InvalidData(
            f"--at {text[:40]} is out of range: give a time after 2000-01-01, e.g. 2026-11-25T09:30"
        ) from None
    if value < EARLIEST:
        raise InvalidData(f"--at {text[:40]} is before 2000-01-01: check the year")
    return value


def _local(text: str, wall: datetime, zone: tzinfo | None) -> datetime:
    """The one instant a local time names, or exit 5 naming the candidates."""
    from .wallclock import instants, offsets, spelled

    found = instants(wall, zone)
    if len(found) == 1:
        return found[0]
    choices = " or ".join(spelled(wall, o) for o in offsets(wall, zone))
    if not found:
        raise InvalidData(
            f"--at {text} does not exist in local time (the clocks moved forward over it): "
            f"give the time with its offset, e.g. {choices}"
        )
    raise InvalidData(
        f"--at {text} is ambiguous in local time (the clocks moved back: it happened twice): "
        f"give the time with its offset, {choices}"
    )


def iso(value: datetime) -> str:
    """The canonical stored form: UTC, microseconds, `Z` (`%Y-%m-%dT%H:%M:%S.%fZ`).

    Written with isoformat, not strftime: the same text at a quarter of the cost, and a step
    writes several times.
    """
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def from_iso(text: str) -> datetime:
    """Read back a stored time."""
    return datetime.fromisoformat(text).astimezone(UTC)


def local(value: datetime | str) -> str:
    """A time as a person reads it: local, to the minute, with the zone."""
    if isinstance(value, str):
        value = from_iso(value)
    return value.astimezone().strftime("%Y-%m-%d %H:%M %Z")


class LocalDays:
    """The clinic's calendar day of stored UTC times, fast for many: the local offset is looked
    up once per UTC day when it is the same at the day's start and end (no change of clock that
    day), else for each time."""

    def __init__(self) -> None:
        self._offsets: dict[str, timedelta | None] = {}

    def __call__(self, stored: str) -> date:
        day = stored[:10]
        if day not in self._offsets:
            start = datetime.fromisoformat(day).replace(tzinfo=UTC)
            first = start.astimezone().utcoffset()
            last = (start + timedelta(days=1, microseconds=-1)).astimezone().utcoffset()
            self._offsets[day] = first if first == last else None
        offset = self._offsets[day]
        instant = from_iso(stored)
        return instant.astimezone().date() if offset is None else (instant + offset).date()
