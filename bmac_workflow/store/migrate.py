"""Migrations from inside the installed package, and the check that a database is at head."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import DBAPIError

from ..errors import SchemaOutOfDate

# The newest revision in migrations/versions; a test keeps it equal to alembic's head.
HEAD = "0006_board_index"


def _config(connection: Any) -> Any:
    from importlib import resources

    from alembic.config import Config

    config = Config()
    # A path, not a URL: nothing here passes through configparser's `%` interpolation.
    config.set_main_option("script_location", str(resources.files("bmac_workflow.migrations")))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to `revision` (creating it when it is new)."""
    _run(engine, "upgrade", revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the database back to `revision` (tests of the migrations)."""
    _run(engine, "downgrade", revision)


def _run(engine: Engine, direction: str, revision: str) -> None:
    from alembic import command

    with engine.connect() as connection:
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:
            # A migration that copies a table others refer to (SQLite's only way to change
            # it) must run with foreign keys off, switched before its transaction begins;
            # the keys are checked again before it commits.
            connection.connection.driver_connection.execute("PRAGMA foreign_keys = OFF")  # type: ignore[union-attr]
        try:
            with connection.begin():
                getattr(command, direction)(_config(connection), revision)
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").first()
                    if broken is not None:
                        raise RuntimeError(f"the migration broke a foreign key: {tuple(broken)}")
        finally:
            if sqlite:
                connection.connection.driver_connection.execute("PRAGMA foreign_keys = ON")  # type: ignore[union-attr]


def current(engine: Engine) -> str | None:
    """The revision the database is at, or None for a database that was never migrated."""
    with engine.connect() as connection:
        try:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except DBAPIError:
            return None


def ensure_current(engine: Engine) -> None:
    """Upgrade a brand-new empty database; refuse one at another revision with what to run."""
    revision = current(engine)
    if revision == HEAD:
        return
    if revision is None:
        tables = set(inspect(engine).get_table_names())
        if not tables:
            upgrade(engine)
            return
        raise SchemaOutOfDate(
            "this database was not created by bmac (it has tables but no alembic_version): "
            "point --db at a bmac database"
        )
    raise SchemaOutOfDate(
        f"the database is at revision {revision}, this bmac needs {HEAD}: run `bmac db upgrade` "
        "(take a backup first with `bmac db backup PATH`)"
    )
