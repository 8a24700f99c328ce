"""The same migrations create, check and undo the schema on SQLite and PostgreSQL."""

from __future__ import annotations

from importlib import resources

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from bmac_workflow.store import migrate, tables


def test_the_head_constant_is_alembics_head() -> None:
    scripts = ScriptDirectory(str(resources.files("bmac_workflow.migrations")))
    assert scripts.get_current_head() == migrate.HEAD


def test_the_tables_and_the_migrations_agree(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), tables.metadata)
    assert diff == []


def test_downgrade_to_base_and_upgrade_again_leaves_a_database_at_head(engine: Engine) -> None:
    migrate.upgrade(engine, "head")
    migrate.downgrade(engine, "base")
    assert "entries" not in inspect(engine).get_table_names()
    migrate.upgrade(engine)
    assert migrate.current(engine) == migrate.HEAD
    assert {"cases", "entries", "operators", "operator_events", "protocols", "checkpoints"} <= set(
        inspect(engine).get_table_names()
    )
