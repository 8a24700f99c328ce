"""The repository's part for the audit and the export: the whole record read in bulk, streamed.

On SQLite the entries stream straight from the DBAPI cursor: SQLAlchemy's per-row work was a
tenth of verify's cost (benchmarks/run.py); on PostgreSQL through a server-side cursor.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from sqlalchemy import and_, func, select, tuple_
from sqlalchemy.sql import Select

from ..record import digest
from ..rules import DueRow
from .statements import Rows
from .tables import cases, due_visits, entries

_CHUNK = 500


class CaseRowForAudit(NamedTuple):
    """The columns of a case row the audit compares with the replay of its log."""

    id: int
    state: str
    version: int
    head_hash: str
    facts: str
    protocol_id: int
    patient_ref: str
    knee: str
    specimen_id: str | None


EntryRow = tuple[int, int, str, str]  # case id, seq, canonical body, stored hash


def _in_range(column: Any, case_id: int | None, low: int | None, high: int | None) -> list[Any]:
    """The conditions that keep `column` (a case id) to one case or to [low, high]."""
    conditions = []
    if case_id is not None:
        conditions.append(column == case_id)
    if low is not None:
        conditions.append(column >= low)
    if high is not None:
        conditions.append(column <= high)
    return conditions


class AuditRows(Rows):
    """Bulk reads of the record on the unit of work's connection."""

    def entry_count(self, case_id: int | None = None) -> int:
        """How many entries the record (or one case) holds."""
        query = select(func.count()).select_from(entries)
        if case_id is not None:
            query = query.where(entries.c.case_id == case_id)
        return int(self._execute(query).scalar_one())

    def entry_bounds(self) -> tuple[int, int | None, int | None]:
        """How many entries there are, and the lowest and highest case id among them."""
        row = self._execute(
            select(func.count(), func.min(entries.c.case_id), func.max(entries.c.case_id))
        ).one()
        return int(row[0]), row[1], row[2]

    def entry_rows(
        self, case_id: int | None = None, low: int | None = None, high: int | None = None
    ) -> Iterable[EntryRow]:
        """Every entry (of one case, or of the cases in [low, high]) as stored, by case and
        seq, streamed."""
        query = (
            select(entries.c.case_id, entries.c.seq, entries.c.body, entries.c.hash)
            .where(*_in_range(entries.c.case_id, case_id, low, high))
            .order_by(entries.c.case_id, entries.c.seq)
        )
        return self._stream(query)

    def _stream(self, query: Select[Any]) -> Iterable[Any]:
        conn = self._conn()
        if conn.dialect.name != "sqlite":
            return conn.execute(query.execution_options(yield_per=2000))
        compiled = query.compile(dialect=conn.dialect)
        params = compiled.params
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.arraysize = 2000
        rows: Iterable[Any] = cursor.execute(
            str(compiled), [params[name] for name in compiled.positiontup or ()]
        )
        return rows

    def case_rows_for_audit(
        self, case_id: int | None = None, low: int | None = None, high: int | None = None
    ) -> dict[int, CaseRowForAudit]:
        """The case rows (of one case, or of [low, high]) by id."""
        query = select(
            cases.c.id,
            cases.c.state,
            cases.c.version,
            cases.c.head_hash,
            cases.c.facts,
            cases.c.protocol_id,
            cases.c.patient_ref,
            cases.c.knee,
            cases.c.specimen_id,
        ).where(*_in_range(cases.c.id, case_id, low, high))
        return {int(r[0]): CaseRowForAudit(*r) for r in self._execute(query)}

    def due_rows_by_case(
        self, case_id: int | None = None, low: int | None = None, high: int | None = None
    ) -> dict[int, set[DueRow]]:
        """The stored worklist rows (of one case, or of [low, high]) by case."""
        query = select(
            due_visits.c.case_id,
            due_visits.c.visit,
            due_visits.c.due_at,
            due_visits.c.patient_ref,
            due_visits.c.knee,
        ).where(*_in_range(due_visits.c.case_id, case_id, low, high))
        found: dict[int, set[DueRow]] = {}
        for row in self._execute(query):
            found.setdefault(int(row[0]), set()).add(DueRow(*row))
        return found

    def current_heads(self) -> dict[str, tuple[int, str]]:
        """Every case's entry count and head hash, the hash recomputed from the last entry's body.

        One statement, so PostgreSQL reads every head at the same instant; on SQLite the
        caller's transaction gives the same guarantee.
        """
        last = (
            select(entries.c.case_id, func.max(entries.c.seq).label("seq"))
            .group_by(entries.c.case_id)
            .subquery()
        )
        rows = self._execute(
            select(entries.c.case_id, entries.c.seq, entries.c.body).join(
                last, and_(entries.c.case_id == last.c.case_id, entries.c.seq == last.c.seq)
            )
        )
        return {str(r[0]): (int(r[1]), digest(r[2])) for r in rows}

    def settle_cases(self) -> None:
        """Wait for every case write in flight and hold new ones off until this unit of work
        ends, so that what it reads next has no lower case id still to commit (PostgreSQL;
        SQLite's one writer at a time gives that already). A checkpoint reads under it."""
        conn = self._conn()
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("LOCK TABLE cases IN SHARE MODE")

    def last_case_id(self) -> int:
        """The highest case id there is (0 before the first case)."""
        return int(self._execute(select(func.coalesce(func.max(cases.c.id), 0))).scalar_one())

    def head_hashes(self, wanted: list[tuple[int, int]]) -> dict[tuple[int, int], str]:
        """The hash (recomputed from its body) of each (case, seq) entry that exists."""
        found: dict[tuple[int, int], str] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            rows = self._execute(
                select(entries.c.case_id, entries.c.seq, entries.c.body).where(
                    tuple_(entries.c.case_id, entries.c.seq).in_(chunk)
                )
            )
            found.update({(int(r[0]), int(r[1])): digest(r[2]) for r in rows})
        return found


def grouped(rows: Iterable[EntryRow]) -> Iterator[tuple[int, list[tuple[int, str, str]]]]:
    """Entry rows sorted by case, as (case id, [(seq, body, hash), ...]) one case at a time."""
    case_id: int | None = None
    bucket: list[tuple[int, str, str]] = []
    for row in rows:
        if row[0] != case_id:
            if case_id is not None:
                yield case_id, bucket
            case_id, bucket = row[0], []
        bucket.append((row[1], row[2], row[3]))
    if case_id is not None:
        yield case_id, bucket
