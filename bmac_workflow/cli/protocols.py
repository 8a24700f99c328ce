"""`bmac protocol ...`: the clinic's protocols, activated by an admin; and `bmac settings ...`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import click

from .app import App
from .options import json_option
from .output import emit_json, table, when


def _listing(
    rows: list[dict[str, Any]],
    as_json: bool,
    columns: Sequence[str],
    cells: Callable[[dict[str, Any]], Sequence[object]],
) -> None:
    """Print a listing: the rows as they are with --json, else a table of `cells(row)`."""
    if as_json:
        emit_json(rows)
        return
    table(columns, [cells(row) for row in rows])


@click.group()
def protocol() -> None:
    """Activate, list and show the clinic's protocols.

    \b
    Example:
      bmac protocol list
    """


@protocol.command("activate")
@click.argument("path", metavar="FILE", type=click.Path(dir_okay=False))
@click.pass_obj
def activate(app: App, path: str) -> None:
    """Make a protocol file the one new cases open under (admin; signed).

    The version it names must be new, or name this very content. Cases already open keep
    their own protocol.

    \b
    Example:
      bmac --operator admin protocol activate clinic-2027.toml
    """
    from ..protocol import load
    from ..services.protocols import activate as run

    chosen = load(path)
    changed = run(chosen, app.credentials(), app.now, app.database())
    state = "activated" if changed else "is already the active protocol"
    click.echo(f"protocol {chosen.version} (sha256 {chosen.sha256[:12]}...) {state}")


@protocol.command("list")
@json_option
@click.pass_obj
def list_(app: App, as_json: bool) -> None:
    """Every protocol version activated, oldest first, and which one new cases open under.

    \b
    Example:
      bmac protocol list --json
    """
    from ..services.protocols import listing as run

    _listing(
        run(app.database(read_only=True)), as_json,
        ["version", "sha256", "activated", "by", "in force"],
        lambda r: [r["version"], r["sha256"][:12], when(r["activated_at"]), r["by"] or "-",
                   "active" if r["active"] else "-"],
    )  # fmt: skip


@protocol.command("show")
@click.argument("version", required=False)
@click.option(
    "--file",
    "as_file",
    is_flag=True,
    help="Print the protocol file itself, as stored (to copy and change under a new version).",
)
@json_option
@click.pass_obj
def show(app: App, version: str | None, as_file: bool, as_json: bool) -> None:
    """Every value of a protocol (the active one unless VERSION is given), the defaults marked.

    \b
    Example:
      bmac protocol show bmac-knee-2026.4
      bmac protocol show --file > clinic-2027.toml
    """
    from ..services.protocols import show as run

    shown = run(version, app.database(read_only=True))
    if as_file:
        click.echo(shown["content"], nl=False)
        return
    if as_json:
        emit_json(shown)
        return
    click.echo(f"protocol {shown['version']} (sha256 {shown['sha256']})")
    from .output import table

    table(
        ["key", "value", "from"],
        [[key, v["value"], "default" if v["default"] else "file"]
         for key, v in shown["values"].items()],
    )  # fmt: skip


@click.group()
def settings() -> None:
    """Show and change the site settings (sign-in limits, session length).

    \b
    Example:
      bmac settings show
    """


@settings.command("show")
@json_option
@click.pass_obj
def settings_show(app: App, as_json: bool) -> None:
    """Every site setting, its value, default and bounds.

    \b
    Example:
      bmac settings show --json
    """
    from ..services.site_settings import show as run

    _listing(
        run(app.database(read_only=True)), as_json,
        ["setting", "value", "default", "bounds", "what"],
        lambda r: [r["name"], r["value"], r["default"], f"{r['low']}-{r['high']}", r["what"]],
    )  # fmt: skip


@settings.command("set")
@click.argument("name")
@click.argument("value")
@click.pass_obj
def settings_set(app: App, name: str, value: str) -> None:
    """Change a site setting within its bounds (admin; signed).

    \b
    Example:
      bmac --operator admin settings set lock_minutes 30
    """
    from ..services.site_settings import change

    number = change(name, value, app.credentials(), app.now, app.database())
    click.echo(f"{name} is now {number}")
