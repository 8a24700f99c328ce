"""A consistent copy of a live SQLite database, opened and verified after it is written."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, text

from .. import states
from ..audit import Problem, heads_digest, verify
from ..errors import BmacError, InvalidData
from ..people import Operator
from ..store.engine import is_sqlite, make_engine
from ..store.migrate import ensure_current
from ..store.unit_of_work import UnitOfWork
from .auditing import current_heads


@dataclass(frozen=True)
class Backup:
    """Where the copy is, what it holds, its checkpoint digest, and what its audit found."""

    path: Path
    cases: int
    entries: int
    digest: str
    problems: list[Problem]


def refuse_unless_sqlite(engine: Engine) -> None:
    """PostgreSQL has its own consistent backup tool; say which (exit 5)."""
    if not is_sqlite(engine):
        raise InvalidData(
            "bmac db backup copies SQLite databases; for PostgreSQL use `pg_dump -Fc DBNAME "
            "> FILE` (a consistent snapshot of the live server) and `pg_restore` to read it back"
        )


def backup(engine: Engine, target: Path, signer: Operator) -> Backup:
    """Copy the live database to `target` with SQLite's online backup API, then verify the copy.

    The copy is taken in one step, inside one read transaction: under WAL, writers go on while
    it runs and the copy is the database as it was at one instant. It is written beside the
    target and renamed into place only once it opened and passed SQLite's integrity check.
    """
    refuse_unless_sqlite(engine)
    states.check_permitted("backup", signer.role)
    source = engine.url.database
    if not source or source == ":memory:":
        raise InvalidData("an in-memory database has nothing on disk to back up")
    target = target.expanduser()
    if target.exists():
        raise InvalidData(f"{target} already exists: a backup never overwrites; choose a new path")
    if not target.parent.is_dir():
        raise InvalidData(f"{target.parent} is not a directory: create it first")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    raw = engine.raw_connection()
    try:
        copy = sqlite3.connect(partial)
        try:
            raw.driver_connection.backup(copy, pages=-1)  # type: ignore[union-attr]
            copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
        finally:
            copy.close()
    finally:
        raw.close()
    try:
        result = _check_copy(partial)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    _fsync(partial)
    os.replace(partial, target)
    return Backup(target, *result)


def _check_copy(path: Path) -> tuple[int, int, str, list[Problem]]:
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            integrity = conn.execute(text("PRAGMA integrity_check")).scalar()
        if integrity != "ok":
            raise BmacError(f"the copy failed SQLite's integrity check ({integrity}); try again")
        ensure_current(engine)
        problems = verify(UnitOfWork(engine))
        with UnitOfWork(engine) as uow:
            heads = current_heads(uow)
    finally:
        engine.dispose()
    # Opening it through bmac switched it to WAL: make it one self-contained file again.
    plain = sqlite3.connect(path, isolation_level=None)
    try:
        plain.execute("PRAGMA journal_mode = DELETE")
    finally:
        plain.close()
    entries = sum(count for count, _ in heads.values())
    return len(heads), entries, heads_digest(heads), problems


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())
