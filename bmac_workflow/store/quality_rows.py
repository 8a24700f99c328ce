"""The repository's part for quality records: the quality log, the kit lots and devices each
case used (`bmac trace`), and the deviations' cache."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from sqlalchemy import bindparam, delete, exists, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..errors import Conflict
from ..quality import QualityEntry
from ..record import digest
from .statements import Rows, Statement
from .tables import case_materials, cases, deviations, quality


class Material(NamedTuple):
    """A kit lot or device one step of a case used."""

    case_id: int
    seq: int
    kind: str
    ref: str
    action: str
    at: str


class DeviationRow(NamedTuple):
    """A deviation as the cache holds it: its number, where it was opened, whether closed."""

    id: int
    case_id: int
    seq: int
    kind: str
    opened_at: str
    opened_by: str
    closed_seq: int | None


_M = case_materials.c
_TRACE = Statement(
    select(_M.case_id, _M.seq, _M.action, _M.at, cases.c.facts)
    .join(cases, cases.c.id == _M.case_id)
    .where(_M.kind == bindparam("kind"), _M.ref == bindparam("ref"), _M.at >= bindparam("since"))
    .order_by(_M.case_id, _M.seq)
)
_CASE_LOTS = Statement(
    select(_M.ref)
    .where(_M.case_id == bindparam("case_id"), _M.kind == bindparam("kind"))
    .distinct()
)
_ADD_MATERIAL = Statement(insert(case_materials), list(Material._fields))
_QUALITY_LENGTH = Statement(select(func.max(quality.c.seq)))
# The log's length and whether any act ever held or released a lot, in one statement (both
# from an index): a step asks them before it reads which lots its case used.
_QUALITY_POSITION = Statement(
    select(
        select(func.max(quality.c.seq)).scalar_subquery(),
        exists().where(quality.c.kind == bindparam("kind")),
    )
)
_D = deviations.c
_DEVIATION_COLUMNS = (_D.id, _D.case_id, _D.seq, _D.kind, _D.opened_at, _D.opened_by, _D.closed_seq)


def _between(column: Any, case_id: int | None, low: int | None, high: int | None) -> list[Any]:
    if case_id is not None:
        return [column == case_id]
    found = []
    if low is not None:
        found.append(column >= low)
    if high is not None:
        found.append(column <= high)
    return found


class QualityRows(Rows):
    """The quality log, the cases' materials and the deviations on the unit of work's
    connection."""

    # -- the quality log -------------------------------------------------------------------
    def quality_rows(self, about: list[tuple[str, str]] | None = None) -> list[tuple[Any, ...]]:
        """The stored acts (seq, kind, subject, body, hash), oldest first: all of them, or
        those about the (kind, subject) pairs `about`."""
        q = quality.c
        query = select(q.seq, q.kind, q.subject, q.body, q.hash).order_by(q.seq)
        if about is not None:
            if not about:
                return []
            query = query.where(q.subject.in_(sorted({s for _, s in about})))
        rows = [tuple(r) for r in self._execute(query)]
        if about is not None:
            wanted = set(about)
            rows = [r for r in rows if (r[1], r[2]) in wanted]
        return rows

    def quality_length(self) -> int:
        """How many acts the quality log holds."""
        return int(self._run(_QUALITY_LENGTH, {}).fetchone()[0] or 0)

    def quality_position(self) -> tuple[int, bool]:
        """How many acts the quality log holds, and whether any of them is about a lot."""
        length, lots = self._run(_QUALITY_POSITION, {"kind": "lot"}).fetchone()
        return int(length or 0), bool(lots)

    def append_quality(self, entry: QualityEntry) -> str:
        """Append an act and return its hash; a taken seq means another act came first."""
        body = entry.body()
        entry_hash = digest(body)
        values = {"seq": entry.seq, "kind": entry.kind, "subject": entry.subject}
        try:
            self._execute(insert(quality).values(**values, body=body, hash=entry_hash))
        except IntegrityError:
            raise Conflict(
                "the quality log changed while this command ran (another hold or device act): "
                "nothing was written; try again"
            ) from None
        return entry_hash

    # -- materials -------------------------------------------------------------------------
    def case_lots(self, case_id: int) -> set[str]:
        """The kit lots the case used so far."""
        return {
            str(r[0]) for r in self._run(_CASE_LOTS, {"case_id": case_id, "kind": "lot"}).fetchall()
        }

    def add_materials(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """Record the lots and devices one entry used: (case, seq, kind, ref, action, at)."""
        for row in rows:
            self._run(_ADD_MATERIAL, dict(zip(Material._fields, row, strict=True)))

    def set_materials(self, case_id: int, rows: Iterable[tuple[Any, ...]]) -> None:
        """Replace the case's materials (after a correction changed one)."""
        self._execute(delete(case_materials).where(_M.case_id == case_id))
        self.add_materials(rows)

    def trace(self, kind: str, ref: str, since: str = "") -> list[tuple[Any, ...]]:
        """(case, seq, action, at, case facts) of every step that used the lot or device."""
        params = {"kind": kind, "ref": ref, "since": since}
        return [tuple(r) for r in self._run(_TRACE, params).fetchall()]

    def materials_by_case(
        self, case_id: int | None, low: int | None, high: int | None
    ) -> dict[int, set[Material]]:
        """The stored materials of one case or of a range of cases (the audit)."""
        query = select(*case_materials.c).where(*_between(_M.case_id, case_id, low, high))
        found: dict[int, set[Material]] = {}
        for row in self._execute(query):
            found.setdefault(row[0], set()).add(Material._make(row))
        return found

    # -- deviations ------------------------------------------------------------------------
    def open_deviation(self, case_id: int, seq: int, kind: str, at: str, by: str) -> int:
        """Number a deviation the entry (case, seq) opened."""
        values = {"case_id": case_id, "seq": seq, "kind": kind, "opened_at": at, "opened_by": by}
        statement = insert(deviations).values(**values).returning(_D.id)
        return int(self._execute(statement).scalar_one())

    def close_deviation(self, case_id: int, seq: int, closed_seq: int) -> None:
        """Mark the deviation (case, seq) closed by the entry `closed_seq`."""
        self._execute(
            update(deviations)
            .where(_D.case_id == case_id, _D.seq == seq)
            .values(closed_seq=closed_seq)
        )

    def deviations(
        self, case_id: int | None = None, open_only: bool = False, number: int | None = None
    ) -> list[DeviationRow]:
        """Deviations by number: all, a case's, the open ones, or the one numbered."""
        query = select(*_DEVIATION_COLUMNS).order_by(_D.id)
        if case_id is not None:
            query = query.where(_D.case_id == case_id)
        if open_only:
            query = query.where(_D.closed_seq.is_(None))
        if number is not None:
            query = query.where(_D.id == number)
        return [DeviationRow(*row) for row in self._execute(query)]

    def deviations_by_case(
        self, case_id: int | None, low: int | None, high: int | None
    ) -> dict[int, list[DeviationRow]]:
        """The cached deviations of one case or of a range of cases (the audit)."""
        query = select(*_DEVIATION_COLUMNS).where(*_between(_D.case_id, case_id, low, high))
        found: dict[int, list[DeviationRow]] = {}
        for row in self._execute(query.order_by(_D.id)):
            found.setdefault(int(row[1]), []).append(DeviationRow(*row))
        return found

    def quality_rows_head(self, seq: int) -> str:
        """The stored hash of act `seq` (the head a new act links to)."""
        query = select(quality.c.hash).where(quality.c.seq == seq)
        return str(self._execute(query).scalar_one())
