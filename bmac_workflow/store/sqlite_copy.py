"""A consistent copy of a live SQLite database, with SQLite's online backup API."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlalchemy import Engine


def sqlite_file(engine: Engine) -> str | None:
    """The file of a SQLite database on disk, or None (PostgreSQL, in memory)."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return str(url.database)


def copy_to(engine: Engine, path: Path) -> None:
    """Copy the live database to `path` in one step, inside one read transaction: under WAL,
    writers go on while it runs and the copy is the database as it was at one instant."""
    raw = engine.raw_connection()
    try:
        copy = sqlite3.connect(path)
        try:
            raw.driver_connection.backup(copy, pages=-1)  # type: ignore[union-attr]
            copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
        finally:
            copy.close()
    finally:
        raw.close()


def integrity(path: Path) -> str:
    """SQLite's own integrity check of a database file ("ok" when it is whole)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def self_contained(path: Path) -> None:
    """Switch a database file back to one file (no WAL beside it), as a backup should be."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = DELETE")
    finally:
        conn.close()


def fsync(path: Path) -> None:
    """Make the file's bytes durable before it is renamed into place."""
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())
