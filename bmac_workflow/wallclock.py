"""A local time typed without an offset: the instants it can name in a time zone. Usually one;
none in the hour a spring-forward change skips; two in the hour a fall-back change repeats.

The zone is this machine's local one (the `TZ` variable, else the system's) unless a caller
names one: the tests walk the changes of several zones without depending on the machine's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo


def _aware(wall: datetime, fold: int, zone: tzinfo | None) -> datetime:
    candidate = wall.replace(fold=fold)
    return candidate.replace(tzinfo=zone) if zone is not None else candidate.astimezone()


def _back(instant: datetime, zone: tzinfo | None) -> datetime:
    """The wall time an instant shows in `zone`, naive."""
    utc = instant.astimezone(UTC)
    return (utc.astimezone(zone) if zone is not None else utc.astimezone()).replace(tzinfo=None)


def offsets(wall: datetime, zone: tzinfo | None = None) -> list[timedelta]:
    """The UTC offsets in force just before and just after `wall` (one when they agree)."""
    found: list[timedelta] = []
    for fold in (0, 1):
        offset = _aware(wall, fold, zone).utcoffset()
        if offset is not None and offset not in found:
            found.append(offset)
    return found


def instants(wall: datetime, zone: tzinfo | None = None) -> list[datetime]:
    """Every instant whose wall time in `zone` is `wall` (naive), earliest first: [] when the
    clocks skipped it, two when they showed it twice."""
    found: list[datetime] = []
    for fold in (0, 1):
        aware = _aware(wall, fold, zone)
        if _back(aware, zone) == wall and all(aware.utcoffset() != f.utcoffset() for f in found):
            found.append(aware)
    return sorted(found, key=lambda a: a.astimezone(UTC))


def spelled(wall: datetime, offset: timedelta) -> str:
    """`wall` with `offset`, as a person would type it (`2026-03-08T02:30-05:00`)."""
    spec = "minutes" if not (wall.second or wall.microsecond) else "seconds"
    return wall.replace(tzinfo=timezone(offset)).isoformat(timespec=spec)
