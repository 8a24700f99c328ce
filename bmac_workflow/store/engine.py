"""One engine per database URL, with the durability and locking the record needs."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from ..errors import SchemaOutOfDate, Usage
from .statements import begin_sqlite

BUSY_TIMEOUT_MS = 10_000
SUPPORTED = "sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"


def default_url() -> str:
    """A SQLite file in the user's data directory."""
    from platformdirs import user_data_dir

    return f"sqlite:///{Path(user_data_dir('bmac-workflow', appauthor=False)) / 'bmac.sqlite3'}"


def is_sqlite(engine: Engine) -> bool:
    """True for the embedded SQLite store."""
    return engine.dialect.name == "sqlite"


def parse(url: str) -> URL:
    """The URL, refused (exit 2) when it is malformed or names a database bmac does not use."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise Usage(f"--db {url!r} is not a database URL: give {SUPPORTED}") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise Usage(
            f"--db {parsed.get_backend_name()}://... is not supported: bmac runs on SQLite "
            f"and PostgreSQL ({SUPPORTED})"
        )
    return parsed


def read_only(parsed: URL) -> bool:
    """True for a SQLite URL opened read-only (`file:PATH?mode=ro`)."""
    return parsed.get_backend_name() == "sqlite" and parsed.query.get("mode") == "ro"


def sqlite_path(parsed: URL) -> Path | None:
    """The file of a SQLite URL (None in memory)."""
    name = parsed.database
    if not name or name == ":memory:":
        return None
    if parsed.query.get("uri") == "true" and name.startswith("file:"):
        return None if read_only(parsed) else Path(name.removeprefix("file:"))
    return Path(name).expanduser()


def read_only_url(url: str) -> str:
    """The URL a reading command opens: SQLite as `file:PATH?mode=ro` (nothing written, no
    journal switched, no file or folder created), PostgreSQL in read-only transactions."""
    parsed = parse(url)
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_path(parsed)
        if path is None:
            return url
        require_file(path, parsed)
        return f"sqlite:///file:{quote(str(path.resolve()))}?mode=ro&uri=true"
    given = parsed.query.get("options") or ""
    given = " ".join(given) if isinstance(given, tuple) else given
    options = given + " -c default_transaction_read_only=on"
    query = {**parsed.query, "options": options.strip()}
    return parsed.set(query=query).render_as_string(hide_password=False)


def require_file(path: Path | None, parsed: URL) -> None:
    """Refuse (exit 1) a SQLite file that does not exist, rather than create it."""
    if path is not None and not path.is_file():
        raise SchemaOutOfDate(
            f"there is no bmac database at {parsed.render_as_string(hide_password=True)}: check "
            "--db / BMAC_DATABASE_URL, or create it with `bmac db upgrade`"
        )


def create_file(parsed: URL) -> None:
    """Create a new SQLite file (and its folder) readable by its owner alone (0600): the WAL
    and shared-memory files SQLite makes beside it take the same permissions."""
    path = sqlite_path(parsed)
    if path is None or path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):  # another process made it first: theirs stands
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def make_engine(url: str, create: bool = True, **kwargs: Any) -> Engine:
    """An engine for `url`; SQLite gets WAL, FULL sync, foreign keys and BEGIN IMMEDIATE writes
    (a read-only one none of what writes). `create` makes a missing SQLite file (0600)."""
    parsed = parse(url)
    if parsed.get_backend_name() != "sqlite":
        # Every connection goes back to the pool with its transaction ended (the unit of work
        # commits or rolls back; closing a Connection rolls back): the pool's own ROLLBACK on
        # return would be one more round trip to the server for each unit of work.
        kwargs.setdefault("pool_reset_on_return", None)
        return create_engine(url, pool_pre_ping=False, **kwargs)
    if create:
        create_file(parsed)
    else:
        require_file(sqlite_path(parsed), parsed)
    engine = create_engine(url, **kwargs)
    connect = _sqlite_connect_read_only if read_only(parsed) else _sqlite_connect
    event.listen(engine, "connect", connect)
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


def _sqlite_connect_read_only(dbapi_connection: Any, _record: Any) -> None:
    # No journal mode: setting WAL would rewrite the header of a DELETE-mode file (a backup).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA query_only = ON")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # pysqlite's autocommit mode (set at connect) sends no BEGIN: send it, on the driver's
    # connection, unless a unit of work has begun there already (store/statements.py).
    driver = conn.connection.driver_connection
    if not driver.in_transaction:
        begin_sqlite(driver, False, conn.dialect)


def writable(url: str) -> bool:
    """False for a SQLite file (or its folder) this user cannot write (a copy on read-only
    media); True otherwise: a PostgreSQL server decides for itself, and a URL that is none, or
    a file that is missing, is refused with what to do when it is opened."""
    try:
        parsed = parse(url)
    except Usage:
        return True
    if parsed.get_backend_name() != "sqlite":
        return True
    path = sqlite_path(parsed)
    if path is None or not path.exists():
        return True
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
