"""The PostgreSQL roles `bmac db grant` sets up cover every table of the schema (the roles
themselves, on a real server, are tested end to end in tests/e2e/test_pg_roles_cli.py)."""

from __future__ import annotations

from bmac_workflow.store import tables
from bmac_workflow.store.pg_roles import APP_TABLES, LOG_TABLES, SECRET_COLUMNS, VERSION_TABLE


def test_the_role_lists_name_every_table_the_schema_declares() -> None:
    assert set(APP_TABLES) == set(tables.metadata.tables) and VERSION_TABLE not in APP_TABLES


def test_every_append_only_table_is_a_log_table_the_app_may_not_change() -> None:
    from bmac_workflow.migrations.append_only import LOG_TABLES as PROTECTED

    assert set(PROTECTED) <= set(LOG_TABLES)
    assert {"registry", "protocols"} <= set(LOG_TABLES)


def test_the_secret_columns_exist_and_hold_every_key_and_pin_the_schema_stores() -> None:
    operators = set(tables.operators.columns.keys())
    assert set(SECRET_COLUMNS["operators"]) == {"pin_hash", "sealed_key"} <= operators
