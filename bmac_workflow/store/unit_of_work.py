"""One transaction per use case: it rolls back unless `commit()` is called."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import Engine

from . import connections
from .engine import writer
from .failures import conflict_of
from .repository import Repository


class UnitOfWork:
    """A connection in one transaction and the repository on it; `write=True` takes the write
    lock at BEGIN on SQLite (BEGIN IMMEDIATE), so that a transaction that reads then writes
    never fails half-way on a snapshot another writer moved."""

    def __init__(self, engine: Engine, write: bool = False) -> None:
        self.engine = engine
        self.write = write

    def __enter__(self) -> UnitOfWork:
        self._bind = writer(self.engine) if self.write else self.engine
        self.connection = connections.take(self._bind)
        self.repo = Repository(self.connection)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        clean = False
        try:
            if self.connection.in_transaction():
                self.connection.rollback()
            clean = exc is None
        finally:
            connections.give_back(self._bind, self.connection, clean)
        conflict = conflict_of(exc)
        if conflict is not None:
            raise conflict from None

    def commit(self) -> None:
        """Make the work durable (on SQLite: fsync of the WAL, synchronous=FULL)."""
        if self.connection.in_transaction():
            self.connection.commit()
