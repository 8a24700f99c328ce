"""The repository's part for the web board: the cases in flight from the index, and the rows
of those the board has not seen at their version."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import bindparam, literal_column, select

from .statements import Rows, Statement
from .tables import cases, deviations, due_visits, entries

# The visits due before a horizon, in worklist order (`followup due` and the board).
WORKLIST = Statement(
    select(
        due_visits.c.case_id,
        due_visits.c.visit,
        due_visits.c.due_at,
        due_visits.c.patient_ref,
        due_visits.c.knee,
    )
    .where(due_visits.c.due_at < bindparam("horizon"))
    .order_by(due_visits.c.due_at, due_visits.c.case_id, due_visits.c.visit)
)


@lru_cache(maxsize=8)
def _in_flight(states: tuple[str, ...]) -> Statement:
    """The read of the cases in `states` (the workflow's own names, written in the SQL)."""
    if not all(state.isidentifier() for state in states):
        raise ValueError(f"not a state name: {states}")
    query = (
        select(cases.c.id, cases.c.version)
        .where(
            cases.c.state.in_([literal_column(f"'{state}'") for state in states]),
            cases.c.version > literal_column("0"),
        )
        .order_by(cases.c.id)
    )
    return Statement(query)


_BOARD_ROWS = (
    select(cases.c.facts, cases.c.protocol_id, entries.c.body)
    .join(entries, (entries.c.case_id == cases.c.id) & (entries.c.seq == cases.c.version))
    .order_by(cases.c.id)
)

# The open deviations with their case's patient, by number: from the (closed_seq, id) index.
_OPEN_DEVIATIONS = Statement(
    select(
        deviations.c.id,
        deviations.c.case_id,
        deviations.c.seq,
        deviations.c.kind,
        deviations.c.opened_at,
        deviations.c.opened_by,
        cases.c.patient_ref,
    )
    .join(cases, cases.c.id == deviations.c.case_id)
    .where(deviations.c.closed_seq.is_(None))
    .order_by(deviations.c.id)
)


class BoardRows(Rows):
    """The board's reads on the unit of work's connection."""

    def in_flight(self, states: list[str]) -> list[tuple[int, int]]:
        """(id, version) of every case in `states`, by id: from the (state, id, version) index
        alone (on the DBAPI cursor: thousands of rows)."""
        return list(self._run(_in_flight(tuple(states)), {}).fetchall())

    def worklist_before(self, horizon: str) -> list[tuple[int, str, str, str, str]]:
        """(case, visit, due at, patient, knee) of every visit due before `horizon`, earliest
        first, as plain tuples (the board keeps what it made of each)."""
        return list(self._run(WORKLIST, {"horizon": horizon}).fetchall())

    def board_rows(self, case_ids: list[int]) -> list[tuple[str, int, str]]:
        """(facts, protocol id, last entry's body) of the given cases, by id."""
        if not case_ids:
            return []
        query = _BOARD_ROWS.where(cases.c.id.in_(case_ids))
        return [(str(r[0]), int(r[1]), str(r[2])) for r in self._execute(query)]

    def open_deviations(self) -> list[tuple[int, int, int, str, str, str, str]]:
        """(number, case, entry, kind, opened at, opened by, patient) of every deviation still
        open, by number."""
        return [tuple(r) for r in self._run(_OPEN_DEVIATIONS, {}).fetchall()]
