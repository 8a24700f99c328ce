"""The `bmac` command: a thin click layer over the services.

Only click and the standard library are imported at start; each command imports what it needs
(SQLAlchemy, transitions, pydantic) inside its body, so that `bmac --help` stays fast.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from .. import __version__
from ..errors import BmacError
from .app import App

SUBCOMMANDS = {
    "db": ("bmac_workflow.cli.db", "db", "Create, migrate and back up the database."),
    "operator": ("bmac_workflow.cli.operators", "operator", "Manage operators, PINs and roles."),
    "case": (
        "bmac_workflow.cli.cases",
        "case",
        "Open, assess, query, correct, cancel and close cases.",
    ),
    "step": ("bmac_workflow.cli.steps", "step", "Log the six processing steps of a case."),
    "followup": (
        "bmac_workflow.cli.followup",
        "followup",
        "Record follow-up visits and list those due.",
    ),
    "audit": (
        "bmac_workflow.cli.audit",
        "audit",
        "Verify, checkpoint, replay and export the record.",
    ),
    "demo": ("bmac_workflow.cli.demo", "demo", "Run one full case on a throwaway database."),
    "diagram": ("bmac_workflow.cli.diagram", "diagram", "Print the state diagram (mermaid)."),
    "completion": (
        "bmac_workflow.cli.completion",
        "completion",
        "Print the shell completion script (bash, zsh, fish).",
    ),
    "protocol": (
        "bmac_workflow.cli.protocols",
        "protocol",
        "Activate, list and show the clinic's protocols.",
    ),
    "settings": (
        "bmac_workflow.cli.protocols",
        "settings",
        "Show and change the site settings (sign-in limits).",
    ),
    "login": ("bmac_workflow.cli.session", "login", "Sign in for reading (a session, or --token)."),
    "logout": ("bmac_workflow.cli.session", "logout", "End this machine's reading session."),
    "serve": (
        "bmac_workflow.cli.serve",
        "serve",
        "Serve the read-only web board and JSON API (extra: bmac-workflow[web]).",
    ),
    "lot": ("bmac_workflow.cli.quality", "lot", "Hold and release kit lots (qa or surgeon)."),
    "device": (
        "bmac_workflow.cli.quality",
        "device",
        "Register devices, their calibration and daily QC.",
    ),
    "deviation": (
        "bmac_workflow.cli.deviations",
        "deviation",
        "List, show and close deviations (overrides to review).",
    ),
    "trace": (
        "bmac_workflow.cli.deviations",
        "trace",
        "Which cases used a kit lot or a device.",
    ),
    "report": (
        "bmac_workflow.cli.report",
        "report",
        "Report outcomes: VAS and KOOS over the follow-up visits.",
    ),
}


class BmacGroup(click.Group):
    """The root group: loads subcommands lazily and turns every failure into one `error:` line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*SUBCOMMANDS, *self.commands])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in SUBCOMMANDS:
            module, attr, _ = SUBCOMMANDS[cmd_name]
            command: click.Command = getattr(importlib.import_module(module), attr)
            return command
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Help from the table above, so that `bmac --help` imports no subcommand module.
        rows = [(name, SUBCOMMANDS[name][2]) for name in sorted(SUBCOMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        # Whatever the caller asks (CliRunner asks standalone), errors are handled here, once.
        try:
            result = super().main(args, prog_name, complete_var, False, **extra)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
            _fail(f"{exc.format_message()}{hint}", exc.exit_code)
        except click.Abort:
            _fail("aborted: nothing was written", 1)
        except click.ClickException as exc:
            _fail(exc.format_message(), exc.exit_code)
        except BmacError as exc:
            _fail(exc.message, exc.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted: nothing was written", 1)
        except Exception as exc:  # the last line of defence: never a traceback
            if os.environ.get("BMAC_DEBUG"):
                raise
            _fail(_describe_unexpected(exc), 1)
        sys.exit(result if isinstance(result, int) else 0)


def _describe_unexpected(exc: Exception) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if _disk_full(exc):
        return (
            "the disk that holds the database is full: nothing was written; free some space "
            "(or ask whoever runs the server) and run the command again"
        )
    if type(exc).__module__.startswith("sqlalchemy"):
        return (
            f"the database failed: {first}; check --db / BMAC_DATABASE_URL and that the "
            "server is running (set BMAC_DEBUG=1 for details)"
        )
    return f"unexpected failure ({type(exc).__name__}: {first}); set BMAC_DEBUG=1 for details"


def _disk_full(exc: BaseException) -> bool:
    """SQLite's SQLITE_FULL, PostgreSQL's disk_full (53100), or ENOSPC, however wrapped."""
    import errno

    seen: BaseException | None = exc
    while seen is not None:
        inner = getattr(seen, "orig", None)
        for found in (seen, inner):
            if getattr(found, "sqlstate", None) == "53100":
                return True
            if getattr(found, "sqlite_errorname", None) == "SQLITE_FULL":
                return True
            if isinstance(found, OSError) and found.errno == errno.ENOSPC:
                return True
        text = str(seen).lower()
        if "database or disk is full" in text or "no space left on device" in text:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _fail(message: str, code: int) -> None:
    message = " ".join(message.split())
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.group(cls=BmacGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="bmac")
@click.option(
    "--db",
    "db_url",
    envvar="BMAC_DATABASE_URL",
    metavar="URL",
    help="Database URL (env BMAC_DATABASE_URL). Default: a SQLite file in the user data directory.",
)
@click.option(
    "--operator",
    envvar="BMAC_OPERATOR",
    metavar="ID",
    help="Who signs (env BMAC_OPERATOR). The PIN is prompted, or read from BMAC_PIN.",
)
@click.option(
    "--protocol",
    "protocol_path",
    envvar="BMAC_PROTOCOL",
    metavar="FILE",
    help="An activated protocol for new cases: its file or version (env BMAC_PROTOCOL). "
    "Default: the active one.",
)
@click.pass_context
def cli(
    ctx: click.Context, db_url: str | None, operator: str | None, protocol_path: str | None
) -> None:
    """Track BMAC knee-injection cases from imaging assessment to follow-up.

    \b
    Example:
      bmac demo
      export BMAC_DATABASE_URL=sqlite:///clinic.db BMAC_OPERATOR=nurse.kim
      bmac case open --patient P-0042 --knee left
    """
    ctx.obj = App(db_url=db_url, operator=operator, protocol_path=protocol_path)
    ctx.call_on_close(ctx.obj.close)


def main() -> None:
    """Console entry point."""
    # A command loads SQLAlchemy, pydantic and the rest: some hundred thousand objects that live
    # as long as the process. The collector's passes over them while they load are wasted work,
    # 90-290 ms of a command's start measured here; it is switched back on (with what is loaded
    # set aside) once the command opens its database: cli.app.settle_heap.
    gc.disable()
    cli(prog_name="bmac")
