"""The repository's part for the refusals log: append a case's refusal, read them back."""

from __future__ import annotations

from sqlalchemy import and_, func, insert, select
from sqlalchemy.exc import IntegrityError

from ..errors import Conflict
from ..record import digest
from ..refusal import Refusal
from .statements import Rows
from .tables import refusals

RefusalRow = tuple[int, int, str, str]  # case id, seq, canonical body, stored hash


class RefusalRows(Rows):
    """Reads and writes of the refusals log on the unit of work's connection."""

    def last_refusal(self, case_id: int) -> tuple[int, str] | None:
        """(seq, hash) of the case's latest refusal, if it has one."""
        row = self._execute(
            select(refusals.c.seq, refusals.c.hash)
            .where(refusals.c.case_id == case_id)
            .order_by(refusals.c.seq.desc())
            .limit(1)
        ).fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def append_refusal(self, refusal: Refusal) -> str:
        """Append a refusal and return its hash; a taken (case, seq): someone refused first."""
        body = refusal.body()
        found = digest(body)
        values = {"case_id": refusal.case_id, "seq": refusal.seq, "body": body, "hash": found}
        conn = self._conn()
        try:
            with conn.begin_nested():
                conn.execute(insert(refusals).values(**values))
        except IntegrityError:
            raise Conflict(f"case {refusal.case_id}: another refusal was logged at once") from None
        return found

    def refusal_rows(self, case_id: int | None = None) -> list[RefusalRow]:
        """Every refusal (of one case, or all) as stored, by case then seq."""
        query = select(refusals.c.case_id, refusals.c.seq, refusals.c.body, refusals.c.hash)
        if case_id is not None:
            query = query.where(refusals.c.case_id == case_id)
        rows = self._execute(query.order_by(refusals.c.case_id, refusals.c.seq))
        return [(int(r[0]), int(r[1]), str(r[2]), str(r[3])) for r in rows]

    def refusal_heads(self) -> dict[str, tuple[int, str]]:
        """Every case's refusal count and latest hash (what a checkpoint covers)."""
        last = (
            select(refusals.c.case_id, func.max(refusals.c.seq).label("seq"))
            .group_by(refusals.c.case_id)
            .subquery()
        )
        rows = self._execute(
            select(refusals.c.case_id, refusals.c.seq, refusals.c.hash).join(
                last, and_(refusals.c.case_id == last.c.case_id, refusals.c.seq == last.c.seq)
            )
        )
        return {str(r[0]): (int(r[1]), str(r[2])) for r in rows}
