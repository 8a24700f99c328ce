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

import operator
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Executable


class Statement:
    """One Core statement, with its SQL text compiled per dialect on first use."""

    def __init__(self, statement: Executable, column_keys: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.column_keys = list(column_keys) if column_keys is not None else None
        self._compiled: dict[tuple[str, str], tuple[str, Callable[[Any], Any]]] = {}
        self._last: tuple[Any, str, Callable[[Any], Any]] | None = None

    def _compile(self, dialect: Any) -> tuple[str, Callable[[Any], Any]]:
        """The SQL text for `dialect` and what takes its parameters from a dict, in order."""
        key = (dialect.name, dialect.paramstyle)
        if key not in self._compiled:
            compiled = self.statement.compile(dialect=dialect, column_keys=self.column_keys)  # type: ignore[attr-defined]
            self._compiled[key] = (str(compiled), _arguments(compiled.positiontup))
        sql, arguments = self._compiled[key]
        self._last = (dialect, sql, arguments)
        return sql, arguments

    def run_on(self, driver: Any, dialect: Any, params: dict[str, Any]) -> Any:
        """Execute with `params` on a cursor of the driver's connection; returns the cursor."""
        # The last dialect's SQL checked here rather than through `_compile`: a step runs
        # four statements, each right after the previous step's fsync left the caches cold.
        last = self._last
        if last is not None and last[0] is dialect:
            sql, arguments = last[1], last[2]
        else:
            sql, arguments = self._compile(dialect)
        args = arguments(params)
        cursor = driver.cursor()
        try:
            cursor.execute(sql, args)
        except dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(
                sql, args, exc, dialect.loaded_dbapi.Error, dialect=dialect
            ) from exc
        return cursor


def _arguments(names: Sequence[str] | None) -> Callable[[Any], Any]:
    """The parameters as the driver takes them: the dict (named style), or a tuple in order."""
    if names is None:
        return _as_given
    if not names:
        return lambda params: ()
    if len(names) == 1:  # itemgetter of one name gives the value, not a tuple of it
        name = names[0]
        return lambda params: (params[name],)
    return operator.itemgetter(*names)


def _as_given(params: Any) -> Any:
    return params


class Rows:
    """Base of the repository's parts: the unit of work's connection, in its transaction.

    On SQLite the transaction is begun on the driver's connection (BEGIN IMMEDIATE for a
    writing unit of work): SQLAlchemy's begin, with its events, cost more than SQLite's BEGIN
    at every step. A Core statement run through SQLAlchemy afterwards joins it (store/engine.py
    begins nothing when the driver is in a transaction already), and the unit of work ends
    both (store/unit_of_work.py)."""

    def __init__(self, connection: Connection, write: bool, on: Any) -> None:
        self._connection = connection
        self._write = write
        self._dialect = connection.dialect
        self._on = on  # the driver's connection: precompiled statements run on its cursors
        self._driver: Any = self._on if self._dialect.name == "sqlite" else None

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
        driver = self._driver
        if driver is None or not driver.in_transaction:  # else begun: no call to `_conn`
            self._conn()
        return statement.run_on(self._on, self._dialect, params)

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
