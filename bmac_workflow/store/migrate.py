"""Migrations from inside the installed package, and the check that a database is at head."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import DBAPIError

from ..errors import SchemaOutOfDate

# The newest revision in migrations/versions; a test keeps it equal to alembic's head.
HEAD = "0008_materials_clustered"


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


def known(revision: str) -> bool:
    """Whether this bmac's migrations know `revision` (a newer bmac's do not)."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    script = ScriptDirectory.from_config(_config(None))
    try:
        return script.get_revision(revision) is not None
    except (CommandError, KeyError, ValueError):
        return False


def refuse_newer(revision: str | None) -> None:
    """Refuse (exit 1) a database that a newer bmac migrated: this one cannot read it."""
    if revision is not None and not known(revision):
        raise SchemaOutOfDate(
            f"the database is at revision {revision}, newer than this bmac knows (up to "
            f"{HEAD}): it was migrated by a newer bmac; use that version (pip install -U "
            "bmac-workflow), never `bmac db upgrade` with this one"
        )


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


def ensure_current(engine: Engine, create: bool = True) -> None:
    """Upgrade a brand-new empty database (when `create`); refuse one at another revision with
    what to run, and one newer than this bmac."""
    revision = current(engine)
    if revision == HEAD:
        return
    if revision is None:
        tables = set(inspect(engine).get_table_names())
        if not tables and create:
            upgrade(engine)
            return
        if not tables:
            where = engine.url.render_as_string(hide_password=True)
            raise SchemaOutOfDate(
                f"{where} holds no bmac database yet: create it with `bmac db upgrade` (a "
                "reading command never creates or migrates one)"
            )
        raise SchemaOutOfDate(
            "this database was not created by bmac (it has tables but no alembic_version): "
            "point --db at a bmac database"
        )
    refuse_newer(revision)
    raise SchemaOutOfDate(
        f"the database is at revision {revision}, this bmac needs {HEAD}: run `bmac db upgrade` "
        "(take a backup first with `bmac db backup PATH`)"
    )
