"""PostgreSQL roles for a clinic server: the SQL that grants the application and the auditor
exactly what they need, and no more.

The log tables are append-only by trigger, but a table's owner (or a superuser) can disable
triggers. So the workstations connect as an application role that owns nothing, may SELECT and
INSERT, may UPDATE only the two tables that hold current state, may DELETE only the follow-up
worklist's rows (rewritten with each case), and may never UPDATE, DELETE or TRUNCATE the log.
The auditor role may only SELECT, and not the operators' sealed signing keys nor their old PIN
hashes: only the application's own role reads those (to unseal a key with its owner's PIN).
Pure text: this module touches no database.
"""

from __future__ import annotations

import re
from typing import Any

# The append-only tables: the case log, the operators' history, the audit checkpoints, the
# signed operator registry, the protocols activated, the refused attempts, the access log, the
# quality log.
LOG_TABLES = (
    "entries",
    "operator_events",
    "checkpoints",
    "registry",
    "protocols",
    "refusals",
    "access_log",
    "quality",
)
# Tables whose rows hold current state (a cache of the log, the operators' PIN counters, the
# reading sessions, the deviations' numbers and standing).
STATE_TABLES = ("cases", "operators", "sessions", "deviations")
# Rows of current state that come and go: a case's visits not yet recorded.
WORKLIST_TABLES = ("due_visits", "case_materials")
APP_TABLES = LOG_TABLES + STATE_TABLES + WORKLIST_TABLES
# What the auditor may not read: the secrets of `operators` (an offline PIN search needs them).
SECRET_COLUMNS = {"operators": ("pin_hash", "sealed_key")}
# What a reader leaves behind, the auditor too: the access log, and their session's last use.
READER_WRITES = (
    "GRANT INSERT ON {access_log} TO {auditor}",
    "GRANT USAGE ON SEQUENCE {access_log_id_seq} TO {auditor}",
    "GRANT UPDATE ON {sessions} TO {auditor}",
)
# Read by every command to check the schema revision; written only by `bmac db upgrade`.
VERSION_TABLE = "alembic_version"

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def check_name(name: str, what: str) -> str:
    """A role or schema name that is safe to quote into SQL, or ValueError saying why."""
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"{what} {name!r} must start with a letter or '_' and hold only letters, digits "
            "and '_' (at most 63)"
        )
    return name


def _q(name: str) -> str:
    return f'"{name}"'


def _create_role(role: str) -> str:
    # CREATE ROLE has no IF NOT EXISTS; a DO block keeps the script safe to run again.
    return (
        "DO $$ BEGIN "
        f"IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN "
        f"CREATE ROLE {_q(role)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT; "
        "END IF; END $$"
    )


def grant_statements(app_role: str, auditor_role: str, schema: str) -> list[str]:
    """The statements that create (if missing) and restrict both roles on `schema`.

    Safe to run again, e.g. after `bmac db upgrade`: it revokes everything first, then grants.
    """
    from .tables import metadata

    columns = {name: tuple(metadata.tables[name].columns.keys()) for name in SECRET_COLUMNS}
    app, auditor, sch = (
        check_name(app_role, "--app-role"),
        check_name(auditor_role, "--auditor-role"),
        check_name(schema, "schema"),
    )
    if app == auditor:
        raise ValueError("--app-role and --auditor-role must be two different roles")

    def table(name: str) -> str:
        return f"{_q(sch)}.{_q(name)}"

    both = f"{_q(app)}, {_q(auditor)}"
    return [
        _create_role(app),
        _create_role(auditor),
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {_q(sch)} FROM {both}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {_q(sch)} FROM {both}",
        f"GRANT USAGE ON SCHEMA {_q(sch)} TO {both}",
        # The application: read everything, append to every table, change current state only.
        f"GRANT SELECT, INSERT ON {', '.join(table(t) for t in APP_TABLES)} TO {_q(app)}",
        f"GRANT UPDATE ON {', '.join(table(t) for t in STATE_TABLES)} TO {_q(app)}",
        f"GRANT DELETE ON {', '.join(table(t) for t in WORKLIST_TABLES)} TO {_q(app)}",
        f"GRANT SELECT ON {table(VERSION_TABLE)} TO {_q(app)}",
        f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {_q(sch)} TO {_q(app)}",
        # The auditor: reads all but the secrets; its sessions are read-only by default too.
        f"GRANT SELECT ON ALL TABLES IN SCHEMA {_q(sch)} TO {_q(auditor)}",
        *(
            statement
            for name, secret in SECRET_COLUMNS.items()
            for statement in (
                f"REVOKE SELECT ON {table(name)} FROM {_q(auditor)}",
                f"GRANT SELECT ({', '.join(_q(c) for c in columns[name] if c not in secret)}) "
                f"ON {table(name)} TO {_q(auditor)}",
            )
        ),
        # Reading is logged (the access log) and a session's idle time starts again: a unit of
        # work that does so asks for READ WRITE (store/access_rows.py).
        *(
            s.format(
                access_log=table("access_log"),
                access_log_id_seq=table("access_log_id_seq"),
                sessions=table("sessions"),
                auditor=_q(auditor),
            )
            for s in READER_WRITES
        ),
        f"GRANT INSERT ON {table('sessions')} TO {_q(auditor)}",
        f"ALTER ROLE {_q(auditor)} SET default_transaction_read_only = on",
    ]


def owners_query(schema: str) -> str:
    """SQL listing the owner of each bmac table in `schema` (the app role must own none)."""
    names = ", ".join(f"'{t}'" for t in APP_TABLES)
    return (
        "SELECT tablename, tableowner FROM pg_tables "
        f"WHERE schemaname = '{check_name(schema, 'schema')}' AND tablename IN ({names})"
    )


def current_schema(engine: Any) -> str:
    """The schema the engine's connections work in."""
    with engine.connect() as conn:
        return str(conn.exec_driver_sql("SELECT current_schema()").scalar_one())


def table_owners(engine: Any, schema: str) -> dict[str, str]:
    """Each bmac table of `schema` and the role that owns it."""
    with engine.connect() as conn:
        return {str(t): str(o) for t, o in conn.exec_driver_sql(owners_query(schema))}


def run_statements(engine: Any, statements: list[str]) -> None:
    """Run the grant statements in one transaction."""
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
