"""The same migrations create, check and undo the schema on SQLite and PostgreSQL."""

from __future__ import annotations

from importlib import resources

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from bmac_workflow.store import migrate
from bmac_workflow.store.engine import make_engine
from bmac_workflow.store.models import Base
from tests.conftest import Bmac, Clinic, advance_to


def test_the_head_constant_is_alembics_head() -> None:
    scripts = ScriptDirectory(str(resources.files("bmac_workflow.migrations")))
    assert scripts.get_current_head() == migrate.HEAD


def test_the_models_and_the_migrations_agree(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_downgrade_to_base_and_upgrade_again_leaves_a_database_at_head(engine: Engine) -> None:
    migrate.upgrade(engine, "head")
    from alembic import command

    with engine.begin() as conn:
        command.downgrade(migrate._config(conn), "base")
    assert "entries" not in inspect(engine).get_table_names()
    migrate.upgrade(engine)
    assert migrate.current(engine) == migrate.HEAD
    assert {"cases", "entries", "operators", "operator_events", "protocols", "checkpoints"} <= set(
        inspect(engine).get_table_names()
    )


def test_a_brand_new_database_is_created_by_the_first_command(db_url: str) -> None:
    result = Bmac(db_url)("case", "list", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "[]"
    assert migrate.current(make_engine(db_url)) == migrate.HEAD


def test_a_database_at_another_revision_says_to_run_db_upgrade(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    result = Bmac(db_url)("case", "list")
    assert result.exit_code == 1
    assert "run `bmac db upgrade`" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_a_foreign_database_is_refused_not_migrated(db_url: str) -> None:
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE patients (id INTEGER)"))
    result = Bmac(db_url)("case", "list")
    assert result.exit_code == 1
    assert "not created by bmac" in result.stderr


def test_db_upgrade_and_current_report_the_revision(db_url: str) -> None:
    bmac = Bmac(db_url)
    first = bmac("db", "upgrade")
    assert first.exit_code == 0 and f"to revision {migrate.HEAD}" in first.stdout
    assert "already at revision" in bmac("db", "upgrade").stdout
    assert bmac("db", "current").stdout.startswith(f"{migrate.HEAD} (head)")


def test_0002_moves_the_follow_up_worklist_into_rows_and_back(clinic: Clinic, bmac: Bmac) -> None:
    """Down to 0001 the worklist is each case's earliest visit; up again, the same rows."""
    from alembic import command

    injected = [clinic.open(patient=f"P-{n:04d}") for n in range(3)]
    for case_id in injected:
        advance_to(clinic, case_id, "follow_up")
    clinic.fire(injected[1], "record_follow_up", {"visit": "1w", "vas": 3})
    waiting = clinic.open(patient="P-0009")
    advance_to(clinic, waiting, "filtering")

    def worklist() -> list[tuple[int, str, str]]:
        with clinic.engine.connect() as conn:
            rows = conn.execute(text("SELECT case_id, visit, due_at FROM due_visits ORDER BY 1, 3"))
            return [tuple(row) for row in rows]  # type: ignore[misc]

    before = worklist()
    assert [c for c, _, _ in before] == [injected[0]] * 6 + [injected[1]] * 5 + [injected[2]] * 6
    with clinic.engine.begin() as conn:
        command.downgrade(migrate._config(conn), "0001")
    with clinic.engine.connect() as conn:
        earliest = dict(conn.execute(text("SELECT id, next_due_at FROM cases")).all())
    assert earliest == {
        injected[0]: before[0][2],
        injected[1]: before[6][2],
        injected[2]: before[11][2],
        waiting: None,
    }
    migrate.upgrade(clinic.engine)
    assert worklist() == before
    verified = bmac("audit", "verify")
    assert verified.exit_code == 0, verified.stdout
