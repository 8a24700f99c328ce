"""Options and arguments several commands share: one decorator each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def json_option(func: F) -> F:
    """The shared `--json` flag."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(func)


def at_option(func: F) -> F:
    """The shared `--at TIME` and `--late-reason TEXT` options of every writing command."""
    func = click.option("--late-reason", metavar="TEXT", help=LATE_HELP)(func)
    return click.option("--at", metavar="TIME", help=AT_HELP)(func)


AT_HELP = "Clinical time, ISO 8601 (default now; local time unless a zone is given)."
LATE_HELP = (
    "Why the entry is logged late: needed when --at is more than the protocol's limit "
    "(default 15 min) before now."
)


def case_argument(required: bool = True) -> Callable[[F], F]:
    """The CASE argument of every case command; TAB completes it from the database."""
    from .completion import complete_case_id

    return click.argument(
        "case_id",
        metavar="CASE" if required else "[CASE]",
        type=int,
        required=required,
        shell_complete=complete_case_id,
    )
