"""Units of work on SQLite pass one idle connection along; never lent twice, never across a fork."""

from __future__ import annotations

import multiprocessing

import pytest
from sqlalchemy import text

from bmac_workflow.errors import InvalidData
from bmac_workflow.store import connections
from bmac_workflow.store.database import Database

ON_SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@ON_SQLITE
def test_the_next_unit_of_work_takes_the_connection_the_last_one_gave_back(
    database: Database,
) -> None:
    with database.write() as first:
        first.repo.case_version(1)
        used = first.connection
    with database.write() as second:
        assert second.connection is used
        assert not second.in_transaction()


@ON_SQLITE
def test_an_invalidated_connection_is_not_kept_with_its_closed_driver(database: Database) -> None:
    first, driver = connections.take(database.engine)
    first.invalidate()  # its driver's connection closed, as after a disconnect
    connections.give_back(database.engine, first, clean=True, driver=driver)
    assert first.closed
    with database.write() as second:
        assert second.connection is not first
        assert second.repo.case_version(1) is None


@ON_SQLITE
def test_a_unit_of_work_inside_another_gets_its_own_connection(database: Database) -> None:
    with database.read() as outer:
        outer.repo.case_version(1)
        with database.read() as inner:
            assert inner.connection is not outer.connection
            inner.repo.case_version(1)
    # The inner one was kept; the outer one, ending later, went back to the pool.
    assert outer.connection.closed and not inner.connection.closed
    with database.read() as after:
        assert after.connection is inner.connection


@ON_SQLITE
def test_a_unit_of_work_that_failed_leaves_no_connection_behind(database: Database) -> None:
    with pytest.raises(InvalidData), database.write() as failed:
        failed.repo.case_version(1)
        raise InvalidData("refused")
    assert failed.connection.closed
    with database.write() as next_one:
        assert next_one.connection is not failed.connection
        assert next_one.repo.case_version(1) is None


def test_postgresql_engines_keep_nothing(pg_url: str) -> None:
    db = Database.open(pg_url, check_schema=False)
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        first, driver = connections.take(db.engine)
        assert driver is first.connection.driver_connection
        connections.give_back(db.engine, first, clean=True, driver=driver)
        assert first.closed
    finally:
        db.dispose()


def _in_child(database: Database, inherited_id: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    with database.write() as uow:
        out.put((id(uow.connection) != inherited_id, uow.repo.case_version(1)))


@ON_SQLITE
def test_a_forked_process_never_uses_its_parents_connection(database: Database) -> None:
    with database.write() as uow:
        uow.repo.case_version(1)
        inherited = uow.connection
    out: multiprocessing.Queue = multiprocessing.get_context("fork").Queue()  # type: ignore[type-arg]
    child = multiprocessing.get_context("fork").Process(
        target=_in_child, args=(database, id(inherited), out)
    )
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert out.get(timeout=5) == (True, None)
    # The parent's own connection is still kept and still works.
    with database.write() as again:
        assert again.connection is inherited
        assert again.connection.execute(text("SELECT count(*) FROM cases")).scalar_one() == 0


@ON_SQLITE
def test_disposing_the_engine_closes_the_kept_connections(database: Database) -> None:
    import sqlite3

    with database.write() as uow:
        uow.repo.case_version(1)
    with database.read() as uow:
        uow.repo.case_version(1)
    database.dispose()
    # Only a connection alone on the file may leave WAL (what `bmac db backup` does to its copy).
    plain = sqlite3.connect(str(database.engine.url.database), isolation_level=None, timeout=0.1)
    try:
        assert plain.execute("PRAGMA journal_mode = DELETE").fetchone() == ("delete",)
    finally:
        plain.close()


@ON_SQLITE
def test_reading_and_writing_share_one_kept_connection_and_only_writing_takes_the_lock(
    database: Database,
) -> None:
    import sqlite3

    with database.write() as writing:
        writing.repo.case_version(1)
        kept = writing.connection
    path = database.engine.url.database
    assert path is not None
    holder = sqlite3.connect(path, isolation_level=None, timeout=0.1)
    holder.execute("BEGIN IMMEDIATE")  # another workstation holds the write lock
    try:
        with database.read() as reading:
            assert reading.connection is kept  # one connection per thread, not two
            assert reading.repo.case_version(1) is None  # a read needs no write lock
    finally:
        holder.execute("ROLLBACK")
        holder.close()
