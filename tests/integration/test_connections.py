"""Units of work on SQLite pass one idle connection along; never lent twice, never across a fork."""

from __future__ import annotations

import multiprocessing

import pytest
from sqlalchemy import Engine, text

from bmac_workflow.errors import InvalidData
from bmac_workflow.store import connections
from bmac_workflow.store.engine import writer
from bmac_workflow.store.unit_of_work import UnitOfWork

ON_SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@ON_SQLITE
def test_the_next_unit_of_work_takes_the_connection_the_last_one_gave_back(
    engine: Engine,
) -> None:
    with UnitOfWork(engine, write=True) as first:
        first.repo.case_version(1)
        used = first.connection
    with UnitOfWork(engine, write=True) as second:
        assert second.connection is used
        assert not second.connection.in_transaction()


@ON_SQLITE
def test_a_unit_of_work_inside_another_gets_its_own_connection(engine: Engine) -> None:
    with UnitOfWork(engine) as outer:
        outer.repo.case_version(1)
        with UnitOfWork(engine) as inner:
            assert inner.connection is not outer.connection
            inner.repo.case_version(1)
    # The inner one was kept; the outer one, ending later, went back to the pool.
    assert outer.connection.closed and not inner.connection.closed
    with UnitOfWork(engine) as after:
        assert after.connection is inner.connection


@ON_SQLITE
def test_a_unit_of_work_that_failed_leaves_no_connection_behind(engine: Engine) -> None:
    with pytest.raises(InvalidData), UnitOfWork(engine, write=True) as failed:
        failed.repo.case_version(1)
        raise InvalidData("refused")
    assert failed.connection.closed
    with UnitOfWork(engine, write=True) as next_one:
        assert next_one.connection is not failed.connection
        assert next_one.repo.case_version(1) is None


def test_postgresql_engines_keep_nothing(pg_url: str) -> None:
    from bmac_workflow.store.engine import make_engine

    engine = make_engine(pg_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        first = connections.take(engine)
        connections.give_back(engine, first, clean=True)
        assert first.closed
    finally:
        engine.dispose()


def _in_child(engine: Engine, inherited_id: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    with UnitOfWork(engine, write=True) as uow:
        out.put((id(uow.connection) != inherited_id, uow.repo.case_version(1)))


@ON_SQLITE
def test_a_forked_process_never_uses_its_parents_connection(engine: Engine) -> None:
    with UnitOfWork(engine, write=True) as uow:
        uow.repo.case_version(1)
        inherited = uow.connection
    out: multiprocessing.Queue = multiprocessing.get_context("fork").Queue()  # type: ignore[type-arg]
    child = multiprocessing.get_context("fork").Process(
        target=_in_child, args=(engine, id(inherited), out)
    )
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert out.get(timeout=5) == (True, None)
    # The parent's own connection is still kept and still works.
    with UnitOfWork(writer(engine)) as again:
        assert again.connection is inherited
        assert again.session.execute(text("SELECT count(*) FROM cases")).scalar_one() == 0


@ON_SQLITE
def test_disposing_the_engine_closes_the_kept_connections(engine: Engine) -> None:
    import sqlite3

    with UnitOfWork(engine, write=True) as uow:
        uow.repo.case_version(1)
    with UnitOfWork(engine) as uow:
        uow.repo.case_version(1)
    engine.dispose()
    # Only a connection alone on the file may leave WAL (what `bmac db backup` does to its copy).
    plain = sqlite3.connect(str(engine.url.database), isolation_level=None, timeout=0.1)
    try:
        assert plain.execute("PRAGMA journal_mode = DELETE").fetchone() == ("delete",)
    finally:
        plain.close()
