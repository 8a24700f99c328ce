"""The board's follow-up worklist (services/board.py): the visits due, each made once and
kept between views, and the list as it stands on a day."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple

from ..access import masked
from ..timeutil import LocalDays


@dataclass(frozen=True)
class DueOnBoard:
    """A follow-up visit on the board's worklist, as its worklist row shows (kept between
    views)."""

    case_id: int
    patient_ref: str
    patient: str  # masked
    knee: str
    visit: str
    due_date: date
    pair: tuple[int, str]
    scratch: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


class DueRow(NamedTuple):
    """A visit on the worklist today: how many days late it is (0: not yet)."""

    visit: DueOnBoard
    days_overdue: int


class Worklist:
    """The board's follow-up worklist as it stands on `today` from its worklist `rows`: the
    same rows on the same day make the same list, kept between views with what a page made of
    it (`scratch`)."""

    def __init__(self, rows: list[tuple[Any, ...]], today: date, visits: list[DueRow]) -> None:
        self.rows = rows
        self.today = today
        self.visits = visits
        self.pairs = [visit.pair for visit, _ in visits]
        self.scratch: dict[str, Any] = {}

    def __len__(self) -> int:
        return len(self.visits)

    def __iter__(self) -> Iterator[DueRow]:
        return iter(self.visits)


def worklist(rows: list[tuple[Any, ...]], today: date, kept: dict[Any, DueOnBoard]) -> Worklist:
    """The worklist of `rows` on `today` (each visit made once, kept in `kept`)."""
    day_of = LocalDays()
    visits = []
    for row in rows:
        visit = kept.get(row)
        if visit is None:
            case_id, name, due_at, patient_ref, knee = row
            visit = kept[row] = DueOnBoard(
                case_id,
                patient_ref,
                masked(patient_ref),
                knee,
                name,
                day_of(due_at),
                (case_id, patient_ref),
            )
        visits.append(DueRow(visit, max((today - visit.due_date).days, 0)))
    prune(kept, rows)
    return Worklist(rows, today, visits)


def prune(kept: dict[Any, Any], wanted: Any) -> None:
    """Forget what the board no longer shows, once the cache is twice what it shows."""
    if len(kept) > 2 * len(wanted) + 100:
        keep = set(wanted)
        for key in [k for k in list(kept) if k not in keep]:
            kept.pop(key, None)
