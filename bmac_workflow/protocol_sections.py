"""The sections of a protocol file that take more than one typed value: the keys it may hold,
its follow-up schedule and its physical ranges (protocol.py parses the rest)."""

from __future__ import annotations

from typing import Any

from .errors import InvalidData
from .protocol import (
    DEFAULTS,
    MAX_RANGE,
    MAX_VISIT_DAYS,
    RETIRED_TABLES,
    TABLES,
    VISIT_NAMES,
    _bad,
    _is_number,
    _Reader,
)


def check_known_keys(doc: dict[str, Any], ranges: dict[str, tuple[float, float]]) -> None:
    known: dict[str, tuple[str, ...]] = {"": ("version", "title", *TABLES), "ranges": (*ranges,)}
    for key in DEFAULTS:
        table, name = key.split(".")
        known[table] = (*known.get(table, ()), name)
    for table, why in RETIRED_TABLES.items():
        if table in doc:
            raise InvalidData(f"protocol file: [{table}] is no longer part of a protocol ({why})")
    for table, keys in known.items():
        node = doc if not table else doc.get(table, {})
        if not isinstance(node, dict):
            raise _bad(table, "must be a table")
        for key in node:
            if key not in keys:
                name = f"{table}.{key}" if table else key
                raise InvalidData(f"protocol file: unknown key `{name}` (known: {', '.join(keys)})")


def read_visits(doc: _Reader) -> tuple[dict[str, int], str]:
    visits = doc.get("follow_up.visits", dict)
    if not visits or not all(
        isinstance(d, int) and not isinstance(d, bool) and 0 < d <= MAX_VISIT_DAYS
        for d in visits.values()
    ):
        raise _bad("follow_up.visits", f"must map visit names to days 1-{MAX_VISIT_DAYS}")
    unknown = [name for name in visits if name not in VISIT_NAMES]
    if unknown:
        raise _bad("follow_up.visits", f"names unknown visit {unknown[0]!r}: use {VISIT_NAMES}")
    final_visit = doc.get("follow_up.final_visit", str)
    if final_visit not in visits:
        raise _bad("follow_up.final_visit", "must name one of the visits")
    if visits[final_visit] != max(visits.values()):
        raise _bad("follow_up.final_visit", "must be the last visit of the schedule")
    return dict(sorted(visits.items(), key=lambda kv: kv[1])), final_visit


def read_ranges(doc: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """The ranges the file gives (the others are the steps' defaults, read when needed)."""
    given = doc.get("ranges", {})
    if not isinstance(given, dict):
        raise _bad("ranges", "must be a table")
    ranges: dict[str, tuple[float, float]] = {}
    for name, pair in given.items():
        key = f"ranges.{name}"
        if (
            not isinstance(pair, list)
            or len(pair) != 2
            or not all(_is_number(v) for v in pair)
            or pair[0] > pair[1]
        ):
            raise _bad(key, "must be [low, high]")
        if pair[0] < 0:
            raise _bad(key, "must not go below 0")
        if pair[1] > MAX_RANGE:
            raise _bad(key, f"must not go above {MAX_RANGE:g}")
        ranges[name] = (float(pair[0]), float(pair[1]))
    return ranges
