"""One engine per database URL, with the durability and locking the record needs."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

BUSY_TIMEOUT_MS = 10_000
WRITE = "bmac_write"


def default_url() -> str:
    """A SQLite file in the user's data directory."""
    from platformdirs import user_data_dir

    return f"sqlite:///{Path(user_data_dir('bmac-workflow', appauthor=False)) / 'bmac.sqlite3'}"


def is_sqlite(engine: Engine) -> bool:
    """True for the embedded SQLite store."""
    return engine.dialect.name == "sqlite"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`; SQLite gets WAL, FULL sync, foreign keys and BEGIN IMMEDIATE writes."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # Every connection goes back to the pool with its transaction ended (the unit of work
        # commits or rolls back; closing a Connection rolls back): the pool's own ROLLBACK on
        # return would be one more round trip to the server for each unit of work.
        kwargs.setdefault("pool_reset_on_return", None)
        return create_engine(url, pool_pre_ping=False, **kwargs)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **kwargs)
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    event.listen(engine, "engine_disposed", _release_kept)
    return engine


def _release_kept(engine: Engine) -> None:
    from .connections import release

    release(engine)


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling would defer BEGIN to the first write, and under WAL a
    # deferred transaction that reads then writes fails with SQLITE_BUSY_SNAPSHOT: take control.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    # A logged step must survive a power cut: fsync the WAL at every commit.
    cursor.execute("PRAGMA synchronous = FULL")
    cursor.execute("PRAGMA foreign_keys = ON")
    # REPLACE conflict resolution must fire the log's DELETE triggers.
    cursor.execute("PRAGMA recursive_triggers = ON")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # A writing unit of work takes the write lock at BEGIN (its connection carries the flag).
    statement = "BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE) else "BEGIN"
    # On the DBAPI connection: every step begins once, and SQLAlchemy's statement machinery
    # cost more than SQLite's BEGIN. Errors (busy) come back as SQLAlchemy's own classes.
    dbapi = conn.connection.driver_connection
    try:
        dbapi.execute(statement)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(statement, (), exc, sqlite3.Error, dialect=conn.dialect) from exc
