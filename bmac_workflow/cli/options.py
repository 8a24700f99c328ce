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


# The largest id a database row can have (a 64-bit integer on both dialects).
MAX_ID = 2**63 - 1


class StrictNumber(click.ParamType):  # type: ignore[type-arg]
    """A number as a person types it: digits, a sign, a point, an exponent; not Python's
    `1_0` (which int() and float() read as 10)."""

    def __init__(self, kind: type[int] | type[float]) -> None:
        self.kind = kind
        self.name = kind.__name__

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, self.kind) and not isinstance(value, bool):
            return value
        text = str(value).strip()
        if "_" in text:
            self.fail(f"{text!r} is not a number (no underscores: write 10, not 1_0)", param, ctx)
        try:
            return self.kind(text)
        except ValueError:
            self.fail(f"{text!r} is not a valid {self.name}", param, ctx)


def _case_id(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    # A case id no database row can have: no such case (exit 3), not an overflow.
    from ..errors import NotFound

    if value is not None and not 1 <= value <= MAX_ID:
        shown = str(value) if len(str(value)) <= 30 else str(value)[:27] + "..."
        raise NotFound(f"no case {shown}: see `bmac case list`")
    return value


def case_argument(required: bool = True) -> Callable[[F], F]:
    """The CASE argument of every case command; TAB completes it from the database."""
    from .completion import complete_case_id

    return click.argument(
        "case_id",
        metavar="CASE" if required else "[CASE]",
        type=StrictNumber(int),
        required=required,
        callback=_case_id,
        shell_complete=complete_case_id,
    )
