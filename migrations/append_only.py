"""DDL that makes tables append-only in the database itself, for both dialects.

Migrations call `protect(op, table)` after creating a log table. SQLite batch mode rebuilds a
table by copying it and drops its triggers on the way (alembic#1207): a migration that alters a
log table does it inside `protected_batch(op, table)`, which re-creates them afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# The log tables and the columns of their unique key besides `id`; every migration protects
# exactly these, and a test checks each has its triggers at head.
LOG_TABLES: dict[str, tuple[str, ...]] = {
    "entries": ("case_id", "seq"),
    "operator_events": (),
    "checkpoints": (),
    "registry": ("seq",),
    "refusals": ("case_id", "seq"),
    "access_log": ("seq",),
    "quality": ("seq",),
    # Not a log, but as fixed once written: a case's limits must never change under it.
    "protocols": ("sha256",),
}

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION bmac_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: record a correction instead', TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$
"""

SQLITE_SUFFIXES = ("no_update", "no_delete", "no_replace")
PG_SUFFIXES = ("no_change", "no_truncate")


def _sqlite(table: str, unique: tuple[str, ...]) -> list[str]:
    keys = ["id = NEW.id"]
    if unique:
        keys.append("(" + " AND ".join(f"{c} = NEW.{c}" for c in unique) + ")")
    refuse = f"SELECT RAISE(ABORT, '{table} is append-only: record a correction instead')"
    return [
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} BEGIN {refuse}; END",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} BEGIN {refuse}; END",
        # INSERT OR REPLACE deletes the old row without firing DELETE triggers unless
        # recursive_triggers is on: refuse any insert that would collide, whoever connects.
        f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} "
        f"WHEN EXISTS (SELECT 1 FROM {table} WHERE {' OR '.join(keys)}) BEGIN {refuse}; END",
    ]


def _postgresql(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION bmac_refuse_change()",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION bmac_refuse_change()",
    ]


def protect(op: Any, table: str, unique: tuple[str, ...] | None = None) -> None:
    """Create the triggers that refuse UPDATE, DELETE, REPLACE and TRUNCATE on `table`.

    `unique` names the columns of the table's unique key besides `id`, so that a REPLACE
    colliding on them is refused too (default: from LOG_TABLES). Safe to call again: triggers
    that survived are replaced, not duplicated.
    """
    if unique is None:
        unique = LOG_TABLES.get(table, ())
    unprotect(op, table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        statements = _postgresql(table)
    else:
        statements = _sqlite(table, unique)
    for statement in statements:
        op.execute(statement)


def unprotect(op: Any, table: str) -> None:
    """Drop the append-only triggers of `table` (downgrades, and before re-creating them)."""
    if op.get_bind().dialect.name == "postgresql":
        for suffix in PG_SUFFIXES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_{suffix} ON {table}")
    else:
        for suffix in SQLITE_SUFFIXES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_{suffix}")


@contextmanager
def protected_batch(op: Any, table: str, **kwargs: Any) -> Iterator[Any]:
    """`op.batch_alter_table(table)` for a log table: its triggers exist again afterwards.

    Example (in a migration):
        with protected_batch(op, "entries") as batch:
            batch.add_column(sa.Column("note", sa.Text(), nullable=True))
    """
    with op.batch_alter_table(table, **kwargs) as batch:
        yield batch
    protect(op, table)
