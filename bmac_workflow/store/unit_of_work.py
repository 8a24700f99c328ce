"""One transaction per use case: it rolls back unless `commit()` is called."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from sqlalchemy import Engine

from . import connections
from .failures import conflict_of
from .repository import Repository
from .statements import end_sqlite


class UnitOfWork:
    """A connection in one transaction and the repository on it; `write=True` takes the write
    lock at BEGIN on SQLite (BEGIN IMMEDIATE), so that a transaction that reads then writes
    never fails half-way on a snapshot another writer moved."""

    def __init__(self, engine: Engine, write: bool = False, glance: bool = False) -> None:
        self.engine = engine
        self.write = write
        self.glance = glance

    def __enter__(self) -> UnitOfWork:
        self.connection, on = connections.take(self.engine)
        self._on: Any = on
        self._driver: Any = None
        self._autocommit: Any = None
        if self.engine.dialect.name == "sqlite":
            # One kept connection serves reading and writing units of work alike (one per
            # thread, so that a threaded server does not hold two): the repository begins on
            # its driver connection, BEGIN IMMEDIATE when this unit of work writes.
            self._driver = on
        elif self.glance:
            # One read that needs no snapshot shared by several statements: no BEGIN and no
            # ROLLBACK sent to the server. Set on psycopg's connection and set back on the way
            # out: SQLAlchemy's isolation-level option cost more than the read (every step on
            # PostgreSQL reads its case and the server's clock so, benchmarks/run.py).
            self._autocommit = on
            on.autocommit = True
        self.repo = Repository(self.connection, self.write, on)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        clean = False
        try:
            self._end(commit=False)
            clean = exc is None and (self._autocommit is None or self._back_from_autocommit())
        finally:
            connections.give_back(self.engine, self.connection, clean, self._on)
        if exc is not None:
            conflict = conflict_of(exc)
            if conflict is not None:
                raise conflict from None

    def _back_from_autocommit(self) -> bool:
        """Set a glance's connection back to transactions; False when it cannot be (a broken
        connection), so that it is closed rather than pooled."""
        try:
            self._autocommit.autocommit = False
        except self.connection.dialect.loaded_dbapi.Error:
            return False
        return True

    def in_transaction(self) -> bool:
        """True while this unit of work's transaction is open (on SQLite, the driver's)."""
        driver = self._driver
        return self.connection.in_transaction() or bool(driver and driver.in_transaction)

    def commit(self) -> None:
        """Make the work durable (on SQLite: fsync of the WAL, synchronous=FULL)."""
        self._end(commit=True)

    def _end(self, commit: bool) -> None:
        """Commit or roll back: through SQLAlchemy when it began (a Core statement ran; it
        ends the driver's transaction with its own), else on SQLite's driver connection."""
        if self.connection.in_transaction():
            self.connection.commit() if commit else self.connection.rollback()
        elif self._driver is not None and self._driver.in_transaction:
            end_sqlite(self._driver, commit, self.connection.dialect)
