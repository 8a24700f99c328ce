"""DDL that makes tables append-only in the database itself, for both dialects.

Migrations call `protect(op, table)` after creating a log table, and again after any SQLite batch
operation on it (batch mode rebuilds the table and drops its triggers: alembic#1207).
"""

from __future__ import annotations

from typing import Any

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION bmac_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: record a correction instead', TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$
"""


def _sqlite(table: str, unique: tuple[str, ...]) -> list[str]:
    collides = " OR ".join(
        [
            "id = NEW.id",
            *(f"({' AND '.join(f'{c} = NEW.{c}' for c in unique)})" for _ in [0] if unique),
        ]
    )
    refuse = f"SELECT RAISE(ABORT, '{table} is append-only: record a correction instead')"
    return [
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} BEGIN {refuse}; END",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} BEGIN {refuse}; END",
        # INSERT OR REPLACE deletes the old row without firing DELETE triggers unless
        # recursive_triggers is on: refuse any insert that would collide, whoever connects.
        f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} "
        f"WHEN EXISTS (SELECT 1 FROM {table} WHERE {collides}) BEGIN {refuse}; END",
    ]


def _postgresql(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION bmac_refuse_change()",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION bmac_refuse_change()",
    ]


def protect(op: Any, table: str, unique: tuple[str, ...] = ()) -> None:
    """Create the triggers that refuse UPDATE, DELETE, REPLACE and TRUNCATE on `table`.

    `unique` names the columns of the table's unique key besides `id`, so that a REPLACE
    colliding on them is refused too.
    """
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(PG_FUNCTION)
        statements = _postgresql(table)
    else:
        statements = _sqlite(table, unique)
    for statement in statements:
        op.execute(statement)


def unprotect(op: Any, table: str) -> None:
    """Drop the append-only triggers of `table` (downgrades only)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_change ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    else:
        for suffix in ("no_update", "no_delete", "no_replace"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_{suffix}")
