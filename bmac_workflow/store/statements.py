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
    """Base of the repository's parts: the unit of work's connection, in its transaction."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def _conn(self) -> Connection:
        """The connection the unit of work's transaction runs on, in that transaction."""
        conn = self._connection
        if not conn.in_transaction():
            conn.begin()  # BEGIN IMMEDIATE on SQLite for a writing unit of work
        return conn

    def _run(self, statement: Statement, params: dict[str, Any]) -> Any:
        """A precompiled statement on the DBAPI cursor (the hot paths)."""
        return statement.run(self._conn(), params)

    def _execute(self, statement: Executable) -> Any:
        """A Core statement through SQLAlchemy (the rest)."""
        return self._conn().execute(statement)
