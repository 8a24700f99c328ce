"""How output looks to a person: rich tables on a terminal, plain lines in a pipe.

Rich is imported inside the functions, so that importing this module costs nothing for
`bmac --help`. The rule for every human-readable command: a table (with colour) when stdout is
a terminal and NO_COLOR is not set; otherwise plain lines, columns padded with spaces (never
tabs), no header and no colour, so that grep and awk see the same text on every machine.
`--json` never comes through here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import click

from ..timeutil import local

if TYPE_CHECKING:
    from rich.console import Console

# The stage a state belongs to decides its colour (SPEC §2 order).
STAGE_OF = {
    "imaging_assessment": "assessment",
    "marrow_collection": "processing",
    "filtering": "processing",
    "centrifugation": "processing",
    "plasma_removal": "processing",
    "concentration": "processing",
    "injection": "processing",
    "follow_up": "follow-up",
    "closed": "finished",
    "ineligible": "stopped",
    "cancelled": "stopped",
}
STAGE_STYLE = {
    "assessment": "cyan",
    "processing": "yellow",
    "follow-up": "green",
    "finished": "blue",
    "stopped": "red",
}
STATE_COLUMNS = frozenset({"state", "from", "to", "from_state", "to_state"})


def is_rich(stream: Any = None) -> bool:
    """True when `stream` (stdout by default) is a terminal and colour is not turned off."""
    stream = sys.stdout if stream is None else stream
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def console(stderr: bool = False) -> Console:
    """A rich console on stdout (or stderr): styled on a terminal, plain text otherwise."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    fancy = is_rich(stream)
    return Console(
        file=stream,
        force_terminal=fancy,
        no_color=not fancy,
        highlight=False,
        emoji=False,
        soft_wrap=not fancy,
    )


def when(value: str | None) -> str:
    """A stored UTC time as local time with the zone (`2026-11-25 21:05 KST`), or a dash."""
    return local(value) if value else "-"


def state_style(state: str | None) -> str:
    """The rich style of a state, by its stage."""
    return STAGE_STYLE.get(STAGE_OF.get(state or "", ""), "")


def _cell(column: str, value: object) -> Any:
    from rich.text import Text

    text = "-" if value is None else str(value)
    if column.lower() in STATE_COLUMNS:
        return Text(text, style=state_style(text))
    return Text(text)


def plain_lines(rows: Sequence[Sequence[object]]) -> list[str]:
    """Rows as lines of space-padded columns: the pipe-friendly form of a table."""
    cells = [["-" if v is None else " ".join(str(v).split()) for v in row] for row in rows]
    if not cells:
        return []
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    return [
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]


def table(
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
    title: str | None = None,
    right: Iterable[str] = (),
) -> None:
    """Print rows: a rich table on a terminal, plain padded lines (no header) otherwise.

    In plain form the title, if any, is one line of its own before the rows.
    """
    rows = [list(r) for r in rows]
    if not is_rich():
        if title:
            click.echo(title)
        for line in plain_lines(rows):
            click.echo(line)
        return
    from rich.table import Table

    aligned_right = set(right)
    grid = Table(title=title, header_style="bold", title_justify="left")
    for name in columns:
        grid.add_column(name, justify="right" if name in aligned_right else "left")
    for row in rows:
        grid.add_row(*(_cell(c, v) for c, v in zip(columns, row, strict=True)))
    console().print(grid)


def fields(pairs: Iterable[tuple[str, object]], title: str | None = None) -> None:
    """Print `name: value` pairs (a status): a two-column grid on a terminal, lines otherwise."""
    pairs = [(k, v) for k, v in pairs if v is not None]
    if not is_rich():
        if title:
            click.echo(title)
        width = max((len(k) for k, _ in pairs), default=0) + 1
        for key, value in pairs:
            click.echo(f"{key + ':':<{width}}  {value}".rstrip())
        return
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for key, value in pairs:
        grid.add_row(key, _cell(key, value))
    if title:
        console().print(title, style="bold")
    console().print(grid)
