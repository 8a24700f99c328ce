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
from tests.conftest import Bmac


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
    assert first.exit_code == 0 and "to revision 0001" in first.stdout
    assert "already at revision" in bmac("db", "upgrade").stdout
    assert bmac("db", "current").stdout.startswith(f"{migrate.HEAD} (head)")
