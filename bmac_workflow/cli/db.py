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
    from ..services.schema import HEAD
    from ..services.schema import upgrade as run

    before = run(app.database(check_schema=False, create=True))
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
    from ..services.schema import HEAD, known
    from ..services.schema import current as run

    revision = run(app.database(check_schema=False, read_only=True))
    state = "(head)" if revision == HEAD else f"(this bmac needs {HEAD}: run `bmac db upgrade`)"
    if revision is not None and revision != HEAD and not known(revision):
        state = f"(newer than this bmac, which knows up to {HEAD}: use a newer bmac)"
    click.echo(f"{revision or 'empty'} {state}")


@db.command("backup")
@click.argument("path", type=click.Path(dir_okay=False))
@click.pass_obj
def backup(app: App, path: str) -> None:
    """Copy the live SQLite database to PATH, then open and verify the copy (admin; PIN).

    The copy is consistent while others keep logging. On PostgreSQL use pg_dump instead.

    \b
    Example:
      bmac --operator admin db backup backups/bmac-2026-11-25.sqlite3
    """
    from pathlib import Path

    from ..errors import RecordAltered
    from ..services.backup import backup as run
    from .audit import problem_line

    copy = run(Path(path), app.credentials(), app.now, app.database())
    click.echo(
        f"backup written to {copy.path}: {copy.cases} case(s), {copy.entries} entries\n"
        f"checkpoint digest of the copy: {copy.digest}"
    )
    for problem in copy.problems:
        click.echo(problem_line(problem))
    if copy.problems:
        raise RecordAltered(
            f"the backup was written but the record it copies does not verify: "
            f"{len(copy.problems)} problem(s); run `bmac audit verify` on the source"
        )
    click.echo("copy opened and verified: every hash, link and case matches")


from .db_grant import grant  # noqa: E402  (attached last: the module keeps its imports light)

db.add_command(grant)
