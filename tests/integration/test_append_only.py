"""The database itself refuses to change or remove log rows, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
from bmac_workflow.migrations.append_only import LOG_TABLES, protected_batch
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from bmac_workflow.access import Access
from bmac_workflow.record import GENESIS, Signature
from bmac_workflow.refusal import Refusal
from bmac_workflow.services.quality import hold
from bmac_workflow.timeutil import iso, utcnow
from tests.conftest import Clinic

TABLES = sorted(LOG_TABLES)


@pytest.fixture
def filled(clinic: Clinic) -> Iterator[Clinic]:
    """A clinic with at least one row in every log table."""
    case_id = clinic.open()
    with clinic.uow() as uow:
        uow.repo.add_checkpoint(iso(utcnow()), "auditor", {"1": 1}, "0" * 64)
        signer = Signature("surgeon", "Surgeon Name", "surgeon", "attempted")
        refusal = Refusal(case_id, 1, "inject", "injection", 1, "knee identity", "wrong knee",
                          iso(utcnow()), iso(utcnow()), signer, {}, GENESIS, 1)  # fmt: skip
        uow.repo.append_refusal(refusal)
        uow.repo.append_access(Access(0, iso(utcnow()), "auditor", "cli", "case status", (1,)))
        uow.commit()
    hold("K-1", "recall", clinic.credentials("qa"), utcnow, clinic.db)
    for table in TABLES:
        assert clinic.count(table) > 0
    yield clinic


def _refused(clinic: Clinic, statement: str) -> str:
    with pytest.raises(DBAPIError) as caught, clinic.engine.begin() as conn:
        conn.execute(text(statement))
    return str(caught.value)


@pytest.mark.parametrize("table", TABLES)
def test_an_update_of_a_log_row_is_refused_by_the_database(filled: Clinic, table: str) -> None:
    before = filled.counts()
    message = _refused(filled, f"UPDATE {table} SET id = id")
    assert "append-only" in message
    assert filled.counts() == before


@pytest.mark.parametrize("table", TABLES)
def test_a_delete_of_a_log_row_is_refused_by_the_database(filled: Clinic, table: str) -> None:
    before = filled.counts()
    assert "append-only" in _refused(filled, f"DELETE FROM {table}")
    assert filled.counts() == before


def test_truncate_of_a_log_is_refused_on_postgresql(filled: Clinic) -> None:
    if filled.engine.dialect.name != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL's")
    for table in TABLES:
        assert "append-only" in _refused(filled, f"TRUNCATE {table} CASCADE")
    assert filled.count("entries") > 0


def _sqlite_path(clinic: Clinic) -> str:
    if clinic.engine.dialect.name != "sqlite":
        pytest.skip("INSERT OR REPLACE is SQLite's")
    path = clinic.engine.url.database
    assert path
    return path


def test_insert_or_replace_of_an_entry_is_refused_on_a_bare_connection(filled: Clinic) -> None:
    # A connection that never set recursive_triggers: REPLACE would delete silently without the
    # collision trigger.
    conn = sqlite3.connect(_sqlite_path(filled))
    try:
        assert conn.execute("PRAGMA recursive_triggers").fetchone()[0] == 0
        body, digest = conn.execute("SELECT body, hash FROM entries WHERE seq = 1").fetchone()
        for statement, values in (
            (
                "INSERT OR REPLACE INTO entries (id, case_id, seq, body, hash) "
                "VALUES (NULL, 1, 1, ?, ?)",
                ("forged", digest),
            ),
            (
                "REPLACE INTO entries (id, case_id, seq, body, hash) "
                "SELECT id, case_id, seq, 'forged', hash FROM entries WHERE seq = 1",
                (),
            ),
            (
                "INSERT OR REPLACE INTO operator_events (id, operator_id, at, action, detail) "
                "SELECT id, operator_id, at, 'forged', detail FROM operator_events LIMIT 1",
                (),
            ),
        ):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(statement, values)
            conn.rollback()
        assert conn.execute("SELECT body FROM entries WHERE seq = 1").fetchone()[0] == body
    finally:
        conn.close()


def test_insert_or_replace_is_refused_through_the_application_engine(filled: Clinic) -> None:
    _sqlite_path(filled)
    message = _refused(
        filled,
        "INSERT OR REPLACE INTO entries (id, case_id, seq, body, hash) "
        "SELECT id, case_id, seq, 'forged', hash FROM entries WHERE seq = 1",
    )
    assert "append-only" in message


def test_every_log_table_has_its_triggers_at_head(clinic: Clinic) -> None:
    with clinic.engine.connect() as conn:
        if clinic.engine.dialect.name == "sqlite":
            names = set(
                conn.execute(
                    text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
                ).scalars()
            )
            expected = {
                f"{t}_{s}" for t in TABLES for s in ("no_update", "no_delete", "no_replace")
            }
        else:
            names = set(
                conn.execute(
                    text(
                        "SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                        "WHERE NOT t.tgisinternal AND c.relnamespace = "
                        "(SELECT oid FROM pg_namespace WHERE nspname = current_schema())"
                    )
                ).scalars()
            )
            expected = {f"{t}_{s}" for t in TABLES for s in ("no_change", "no_truncate")}
    assert expected <= names


def test_a_batch_migration_of_a_log_table_keeps_it_append_only(filled: Clinic) -> None:
    with filled.engine.begin() as conn:
        op = Operations(MigrationContext.configure(conn, opts={"render_as_batch": True}))
        # recreate="always" forces SQLite's copy-and-rename, which is what loses triggers.
        with protected_batch(op, "entries", recreate="always") as batch:
            batch.add_column(sa.Column("note", sa.Text(), nullable=True))
    assert "append-only" in _refused(filled, "DELETE FROM entries")
    assert "append-only" in _refused(filled, "UPDATE entries SET note = 'x'")


def test_appending_new_entries_still_works_under_the_triggers(filled: Clinic) -> None:
    case_id = filled.open(patient="P-0002")
    assert filled.count("entries") == 2
    with filled.uow(write=False) as uow:
        assert [e.seq for e, _ in uow.repo.entries(case_id)] == [1]
