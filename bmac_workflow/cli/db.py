"""`bmac db ...`: create, migrate and inspect the database."""

from __future__ import annotations

import click

from .app import App


@click.group()
def db() -> None:
    """Create, migrate and inspect the database.

    \b
    Example:
      bmac --db sqlite:///clinic.db db upgrade
    """


@db.command("upgrade")
@click.pass_obj
def upgrade(app: App) -> None:
    """Create the database or bring it to the newest schema.

    \b
    Example:
      bmac db upgrade
    """
    from ..store.migrate import HEAD, current
    from ..store.migrate import upgrade as run

    engine = app.engine(check_schema=False)
    before = current(engine)
    run(engine)
    if before == HEAD:
        click.echo(f"database already at revision {HEAD}")
    else:
        click.echo(f"database upgraded from {before or 'empty'} to revision {HEAD}")


@db.command("current")
@click.pass_obj
def current(app: App) -> None:
    """Print the schema revision the database is at.

    \b
    Example:
      bmac db current
    """
    from ..store.migrate import HEAD
    from ..store.migrate import current as run

    revision = run(app.engine(check_schema=False))
    state = "(head)" if revision == HEAD else f"(this bmac needs {HEAD}: run `bmac db upgrade`)"
    click.echo(f"{revision or 'empty'} {state}")


from .db_grant import grant  # noqa: E402  (attached last: the module keeps its imports light)

db.add_command(grant)
