"""The database's schema: migrate it, say where it stands, and set up PostgreSQL's roles."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import InvalidData
from ..store.migrate import HEAD

if TYPE_CHECKING:
    from ..store.database import Database

__all__ = ["HEAD", "current", "grant", "grant_sql", "known", "upgrade"]


def upgrade(db: Database) -> str | None:
    """Bring the database to the newest revision (creating it when new); returns the revision
    it was at before."""
    from ..store import migrate

    before = migrate.current(db.engine)
    migrate.refuse_newer(before)
    migrate.upgrade(db.engine)
    return before


def known(revision: str) -> bool:
    """Whether this bmac knows `revision` (a newer bmac's is unknown to it)."""
    from ..store import migrate

    return migrate.known(revision)


def current(db: Database) -> str | None:
    """The revision the database is at (None: never migrated)."""
    from ..store import migrate

    return migrate.current(db.engine)


def grant_sql(app_role: str, auditor_role: str, schema: str) -> list[str]:
    """The SQL that creates and restricts both roles on `schema` (exit 5 for a bad name)."""
    from ..store.pg_roles import grant_statements

    try:
        return grant_statements(app_role, auditor_role, schema)
    except ValueError as exc:
        raise InvalidData(str(exc)) from None


def grant(
    db: Database, app_role: str, auditor_role: str, schema: str | None, run: bool = True
) -> tuple[str, list[str]]:
    """Create (if missing) and restrict the application and auditor roles on the bmac tables;
    returns the schema and the statements (run unless `run` is false)."""
    from ..store import pg_roles

    if db.dialect != "postgresql":
        raise InvalidData(
            "db grant is for a PostgreSQL server: SQLite has no roles (protect the file instead)"
        )
    schema = schema or pg_roles.current_schema(db.engine)
    statements = grant_sql(app_role, auditor_role, schema)
    if not run:
        return schema, statements
    owners = pg_roles.table_owners(db.engine, schema)
    if not owners:
        raise InvalidData(f"no bmac tables in schema {schema}: run `bmac db upgrade` first")
    if app_role in owners.values():
        raise InvalidData(
            f"role {app_role} owns the bmac tables and could disable the append-only "
            "triggers: run `bmac db upgrade` as another role and choose a new --app-role"
        )
    pg_roles.run_statements(db.engine, statements)
    return schema, statements
