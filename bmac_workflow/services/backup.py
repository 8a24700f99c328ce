"""A consistent copy of a live SQLite database, opened and verified after it is written."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..checks import Problem, heads_digest
from ..errors import BmacError, InvalidData
from ..roles import check_permitted
from .recording import Clock
from .signing import Credentials, record_alone, sign_in
from .verification import verify

if TYPE_CHECKING:
    from ..store.database import Database


@dataclass(frozen=True)
class Backup:
    """Where the copy is, what it holds, its checkpoint digest, and what its audit found."""

    path: Path
    cases: int
    entries: int
    digest: str
    problems: list[Problem]


def refuse_unless_sqlite(db: Database) -> None:
    """PostgreSQL has its own consistent backup tool; say which (exit 5)."""
    if db.dialect != "sqlite":
        raise InvalidData(
            "bmac db backup copies SQLite databases; for PostgreSQL use `pg_dump -Fc DBNAME "
            "> FILE` (a consistent snapshot of the live server) and `pg_restore` to read it back"
        )


def backup(target: Path, signer: Credentials, clock: Clock, db: Database) -> Backup:
    """Copy the live database to `target`, then verify the copy (admin).

    The copy is written beside the target and renamed into place only once it opened and
    passed SQLite's integrity check and the audit.
    """
    from ..store import sqlite_copy

    refuse_unless_sqlite(db)
    signed = sign_in(signer, clock(), db)
    try:
        check_permitted("backup", signed.operator.role)
    except BmacError:
        record_alone(signed, clock(), db)
        raise
    record_alone(signed, clock(), db)
    source = sqlite_copy.sqlite_file(db.engine)
    if source is None:
        raise InvalidData("an in-memory database has nothing on disk to back up")
    target = target.expanduser()
    if target.exists():
        raise InvalidData(f"{target} already exists: a backup never overwrites; choose a new path")
    if not target.parent.is_dir():
        raise InvalidData(f"{target.parent} is not a directory: create it first")
    partial = target.with_name(target.name + ".partial")
    try:
        # Ours alone (0600), made here: a file of that name we did not make is left as it is.
        os.close(os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        raise InvalidData(
            f"{partial} exists: another backup may be writing it, or one was interrupted; "
            "remove it yourself once you know it is not in use, or choose a new path"
        ) from None
    try:
        sqlite_copy.copy_to(db.engine, partial)
        result = _check_copy(partial)
        sqlite_copy.fsync(partial)
        # A link never replaces: a file put at the target while the copy was made stays.
        os.link(partial, target)
    except FileExistsError:
        raise InvalidData(
            f"{target} appeared while the copy was made: a backup never overwrites; nothing "
            "was written there, choose a new path"
        ) from None
    finally:
        partial.unlink(missing_ok=True)
    return Backup(target, *result)


def _check_copy(path: Path) -> tuple[int, int, str, list[Problem]]:
    from ..store import sqlite_copy
    from ..store.database import Database

    integrity = sqlite_copy.integrity(path)
    if integrity != "ok":
        raise BmacError(f"the copy failed SQLite's integrity check ({integrity}); try again")
    # Read-only: the copy stays one self-contained file, byte for byte as written.
    copy = Database.open(f"sqlite:///{path}", read_only=True)
    try:
        problems = verify(copy)
        with copy.read() as uow:
            heads = uow.repo.current_heads()
    finally:
        copy.dispose()
    entries = sum(count for count, _ in heads.values())
    return len(heads), entries, heads_digest(heads), problems
