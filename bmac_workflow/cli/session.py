"""`bmac login` and `bmac logout`: a session for reading, and read-only API tokens."""

from __future__ import annotations

import click

from .app import App


@click.command("login")
@click.option(
    "--token",
    is_flag=True,
    help="Print a read-only API token (for `Authorization: Bearer`) instead of opening a "
    "session on this machine.",
)
@click.pass_obj
def login(app: App, token: bool) -> None:
    """Sign in for reading (operator id and PIN): reading commands then need no PIN until the
    session is idle for the site's `session_idle_minutes` (15 by default) or `bmac logout`.

    The session is a file only this OS user can read, in the user's runtime directory; it
    reads as you and signs nothing: every writing command still asks for the PIN.

    \b
    Example:
      bmac --operator surgeon.park login
      bmac --operator auditor.choi login --token > api-token.txt
    """
    from ..services.sessions import login as run
    from ..sessions import CLI, TOKEN
    from . import session_file

    opened = run(app.credentials(), TOKEN if token else CLI, app.now(), app.database())
    if token:
        click.echo(opened.key.token())
        assert opened.expires is not None
        click.echo(
            f"a read-only token for {opened.operator_id}, valid until "
            f"{opened.expires.astimezone():%Y-%m-%d %H:%M %Z}",
            err=True,
        )
        return
    session_file.write(app.url, opened.operator_id, opened.key)
    click.echo(
        f"signed in as {opened.operator_id} for reading; the session ends after "
        f"{opened.idle_minutes} minutes idle (`bmac logout` ends it now)",
        err=True,
    )


@click.command("logout")
@click.pass_obj
def logout(app: App) -> None:
    """End this machine's reading session for the database (and delete its file).

    \b
    Example:
      bmac logout
    """
    from ..services.sessions import logout as run
    from . import session_file

    ended = run(session_file.read(app.url), app.now(), app.database())
    session_file.remove(app.url)
    click.echo("signed out" if ended else "there was no session to end", err=True)
