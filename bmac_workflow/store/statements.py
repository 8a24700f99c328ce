"""Precompiled statements: Core statements compiled once per dialect, run on the DBAPI cursor.

Measured with `benchmarks/run.py`: SQLAlchemy's own work for each `Connection.execute` (about
70 µs) is several times SQLite's for one-row statements, and a step runs four of them besides
the fsync. So the SQL text still comes from the tables (compiled by SQLAlchemy, once), it runs
inside the unit of work's transaction on its connection (BEGIN IMMEDIATE, commit and rollback
stay the unit of work's), and only the per-call overhead is skipped. DBAPI errors come back as
SQLAlchemy's own exception classes, so callers catch what they always caught. Only the
repository runs them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Executable


class Statement:
    """One Core statement, with its SQL text compiled per dialect on first use."""

    def __init__(self, statement: Executable, column_keys: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.column_keys = list(column_keys) if column_keys is not None else None
        self._compiled: dict[str, tuple[str, list[str] | None]] = {}

    def _compile(self, conn: Connection) -> tuple[str, list[str] | None]:
        dialect = conn.dialect
        key = f"{dialect.name}:{dialect.paramstyle}"
        if key not in self._compiled:
            compiled = self.statement.compile(  # type: ignore[attr-defined]
                dialect=dialect, column_keys=self.column_keys
            )
            names = list(compiled.positiontup) if compiled.positiontup is not None else None
            self._compiled[key] = (str(compiled), names)
        return self._compiled[key]

    def run(self, conn: Connection, params: dict[str, Any]) -> Any:
        """Execute with `params` on `conn`'s DBAPI cursor; returns the cursor."""
        sql, names = self._compile(conn)
        args: Any = params if names is None else tuple(params[name] for name in names)
        cursor = conn.connection.cursor()
        try:
            cursor.execute(sql, args)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(
                sql, args, exc, conn.dialect.loaded_dbapi.Error, dialect=conn.dialect
            ) from exc
        return cursor


class Rows:
    """Base of the repository's parts: the unit of work's connection, in its transaction.

    On SQLite the transaction is begun on the driver's connection (BEGIN IMMEDIATE for a
    writing unit of work): SQLAlchemy's begin, with its events, cost more than SQLite's BEGIN
    at every step. A Core statement run through SQLAlchemy afterwards joins it (store/engine.py
    begins nothing when the driver is in a transaction already), and the unit of work ends
    both (store/unit_of_work.py)."""

    def __init__(self, connection: Connection, write: bool = False) -> None:
        self._connection = connection
        self._write = write
        self._driver: Any = None
        if connection.dialect.name == "sqlite":
            self._driver = connection.connection.driver_connection

    def _conn(self) -> Connection:
        """The connection the unit of work's transaction runs on, in that transaction."""
        conn = self._connection
        driver = self._driver
        if driver is not None:
            if not driver.in_transaction:
                begin_sqlite(driver, self._write, conn.dialect)
        elif not conn.in_transaction():
            conn.begin()
        return conn

    def _run(self, statement: Statement, params: dict[str, Any]) -> Any:
        """A precompiled statement on the DBAPI cursor (the hot paths)."""
        return statement.run(self._conn(), params)

    def _execute(self, statement: Executable) -> Any:
        """A Core statement through SQLAlchemy (the rest)."""
        return self._conn().execute(statement)


def begin_sqlite(driver: Any, write: bool, dialect: Any) -> None:
    """BEGIN on a SQLite driver connection (IMMEDIATE: the write lock at once, so that a
    transaction that reads then writes never fails half-way on a snapshot another writer
    moved)."""
    on_driver(driver.execute, "BEGIN IMMEDIATE" if write else "BEGIN", dialect)


def end_sqlite(driver: Any, commit: bool, dialect: Any) -> None:
    """COMMIT or ROLLBACK the transaction of a SQLite driver connection."""
    on_driver(driver.commit if commit else driver.rollback, None, dialect)


def on_driver(call: Any, statement: str | None, dialect: Any) -> None:
    """`call(statement)` on the driver; its errors (a busy database) come back as SQLAlchemy's
    own classes, as from a statement run through it."""
    error = dialect.loaded_dbapi.Error
    try:
        call() if statement is None else call(statement)
    except error as exc:
        raise DBAPIError.instance(
            statement or "COMMIT/ROLLBACK", (), exc, error, dialect=dialect
        ) from exc
