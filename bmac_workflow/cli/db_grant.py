"""`bmac db grant`: set up the PostgreSQL roles the workstations and the auditors connect as."""

from __future__ import annotations

import click

from .app import App


@click.command("grant")
@click.option("--app-role", required=True, metavar="NAME", help="Role the workstations use.")
@click.option("--auditor-role", required=True, metavar="NAME", help="Read-only auditor role.")
@click.option(
    "--schema", metavar="NAME", help="Schema of the bmac tables (default: the current schema)."
)
@click.option("--print", "print_only", is_flag=True, help="Print the SQL instead of running it.")
@click.pass_obj
def grant(app: App, app_role: str, auditor_role: str, schema: str | None, print_only: bool) -> None:
    """Create two PostgreSQL roles: an application role that can never UPDATE, DELETE or
    TRUNCATE the log, and an auditor role that can only read.

    Run it as the owner of the tables (the role that ran `bmac db upgrade`), and again after
    every `bmac db upgrade`. The roles are created without a password: set one with
    `ALTER ROLE name PASSWORD '...'` or use your server's authentication.

    \b
    Example:
      bmac --db postgresql+psycopg://postgres@127.0.0.1/clinic db grant \\
           --app-role bmac_app --auditor-role bmac_auditor
    """
    from ..services.schema import grant as run
    from ..services.schema import grant_sql

    if print_only and schema:
        _echo_sql(grant_sql(app_role, auditor_role, schema))
        return
    schema, statements = run(app.database(), app_role, auditor_role, schema, run=not print_only)
    if print_only:
        _echo_sql(statements)
        return
    from ..store.pg_roles import LOG_TABLES, STATE_TABLES, WORKLIST_TABLES

    click.echo(
        f"{app_role}: SELECT and INSERT on the bmac tables, UPDATE on {', '.join(STATE_TABLES)} "
        f"only, DELETE on {', '.join(WORKLIST_TABLES)} only; no UPDATE, DELETE or TRUNCATE on "
        f"the logs ({', '.join(LOG_TABLES)})"
    )
    click.echo(
        f"{auditor_role}: SELECT only, not the operators' sealed keys, and INSERT of its own "
        f"reads into access_log (schema {schema})"
    )


def _echo_sql(statements: list[str]) -> None:
    for statement in statements:
        click.echo(f"{statement};")
