"""The audit's checks of the quality records' caches, pure: which kit lots and devices a case's
steps used (what `bmac trace` reads) and its deviations, against what the re-run of its log
found (rerun.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .checks import Problem
from .deviations import Deviation


def check_caches(
    case_id: int,
    expected: set[tuple[Any, ...]],
    replayed: Iterable[Deviation],
    materials: Iterable[tuple[Any, ...]],
    deviation_rows: Iterable[tuple[Any, ...]],
) -> list[Problem]:
    """What differs between the stored materials and deviations of a case and those its log
    gives (`expected`, `replayed`)."""
    problems = []
    stored = {tuple(row) for row in materials}
    for row in sorted(expected - stored, key=str):
        problems.append(
            Problem(case_id, row[1], f"the trace index lacks {row[2]} {row[3]!r} of this entry")
        )
    for row in sorted(stored - expected, key=str):
        problems.append(
            Problem(case_id, row[1], f"the trace index lists {row[2]} {row[3]!r}, not in the log")
        )
    # Each deviation as the log has it: (seq, kind, opened at, by, closing entry).
    wanted = {(d.seq, d.kind, d.opened_at, d.opened_by, d.closed_seq) for d in replayed}
    cached = {tuple(row[2:]) for row in deviation_rows}
    for row in sorted(wanted - cached, key=str):
        state = "open" if row[4] is None else f"closed by entry {row[4]}"
        problems.append(
            Problem(case_id, row[0], f"deviations list lacks the {row[1]} deviation ({state})")
        )
    for row in sorted(cached - wanted, key=str):
        problems.append(
            Problem(case_id, row[0], f"deviations list has a {row[1]} deviation the log does not")
        )
    return problems
