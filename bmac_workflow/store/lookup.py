"""One case and the protocol it runs under, read on a connection: all `bmac case status` needs.

A status is two one-row reads. Through the unit of work they brought SQLAlchemy's ORM (the
session, and the declarative models built at import), which cost more than the rest of the
command's own start (benchmarks/run.py, start_case_status). Here they are two SQL texts on one
connection, so the command runs on SQLAlchemy Core alone. The tables and columns are those of
store/models.py; tests/integration/test_lookup.py reads every case both ways and compares.
"""

from __future__ import annotations

import json
from types import TracebackType
from typing import Any

from sqlalchemy import Engine, text

from ..protocol import Protocol, parse
from ..record import CaseSnapshot
from .failures import conflict_of

_CASE = text("SELECT facts, protocol_id FROM cases WHERE id = :case_id")
_PROTOCOL = text("SELECT content FROM protocols WHERE id = :protocol_id")


def case_of_row(row: Any) -> tuple[CaseSnapshot, int] | None:
    """The case and its protocol id from a (facts, protocol_id) row, or None for no row or for
    a case whose opening never committed (its row reserved, its facts still `{}`)."""
    if row is None or row[0] == "{}":
        return None
    return CaseSnapshot.from_facts(json.loads(row[0])), int(row[1])


class CaseLookup:
    """A read-only transaction on one connection, rolled back when the `with` block ends."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __enter__(self) -> CaseLookup:
        self.connection = self.engine.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self.connection.in_transaction():
                self.connection.rollback()
        finally:
            self.connection.close()
        conflict = conflict_of(exc)
        if conflict is not None:
            raise conflict from None

    def case(self, case_id: int) -> tuple[CaseSnapshot, int] | None:
        """The case and its protocol id, as `Repository.get_case` reads them."""
        return case_of_row(self.connection.execute(_CASE, {"case_id": case_id}).fetchone())

    def protocol(self, protocol_id: int) -> Protocol:
        """The protocol a case runs under, as stored when the case was opened."""
        row = self.connection.execute(_PROTOCOL, {"protocol_id": protocol_id}).fetchone()
        if row is None:
            raise LookupError(f"no protocol {protocol_id}")
        return parse(row[0])
