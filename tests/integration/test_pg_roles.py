"""The PostgreSQL roles `bmac db grant` sets up cover every table of the schema (the roles
themselves, on a real server, are tested end to end in tests/e2e/test_pg_roles_cli.py)."""

from __future__ import annotations

from bmac_workflow.store import tables
from bmac_workflow.store.pg_roles import APP_TABLES, VERSION_TABLE


def test_the_role_lists_name_every_table_the_schema_declares() -> None:
    assert set(APP_TABLES) == set(tables.metadata.tables) and VERSION_TABLE not in APP_TABLES
