"""How output looks to a person: rich tables on a terminal, plain lines in a pipe; JSON for
machines.

Rich is imported inside the functions, so that importing this module costs nothing for
`bmac --help`. The rule for every human-readable command: a table (with colour) when stdout is
a terminal and NO_COLOR is not set; otherwise plain lines, columns padded with spaces (never
tabs), no header and no colour, so that grep and awk see the same text on every machine.
`--json` never goes through the tables.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import click

from ..text_policy import for_terminal
from ..timeutil import local

if TYPE_CHECKING:
    from rich.console import Console

# A state's colour is its stage's (steps.py declares the stage of each state a step leaves).
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


def utc(value: str) -> str:
    """A stored UTC time to the minute, in UTC."""
    return f"{value[:10]} {value[11:16]} UTC"


def when(value: str | None) -> str:
    """A stored UTC time as local time with the zone (`2026-11-25 21:05 KST`), or a dash."""
    return local(value) if value else "-"


def state_style(state: str | None) -> str:
    """The rich style of a state, by its stage."""
    from ..states import workflow

    return STAGE_STYLE.get(workflow().stages.get(state or "", ""), "")


def _cell(column: str, value: object) -> Any:
    from rich.text import Text

    text = "-" if value is None else for_terminal(str(value))
    if column.lower() in STATE_COLUMNS:
        return Text(text, style=state_style(text))
    return Text(text)


def plain_lines(rows: Sequence[Sequence[object]]) -> list[str]:
    """Rows as lines of space-padded columns: the pipe-friendly form of a table."""
    cells = [
        ["-" if v is None else for_terminal(" ".join(str(v).split())) for v in row] for row in rows
    ]
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
            click.echo(f"{key + ':':<{width}}  {for_terminal(str(value))}".rstrip())
        return
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for key, value in pairs:
        grid.add_row(key, _cell(key, value))
    if title:
        console().print(Text(for_terminal(title)), style="bold")
    console().print(grid)


def emit_json(value: Any) -> None:
    """Print JSON, stable and readable."""
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False))


def status_title(status: dict[str, Any]) -> str:
    """The first line of a status: which case, which patient, which knee."""
    patient = for_terminal(status["patient_ref"])
    return f"case {status['case_id']}  patient {patient}  {status['knee']} knee"


def status_pairs(status: dict[str, Any]) -> list[tuple[str, str | None]]:
    """The status object as (label, text) pairs a person reads; None where there is nothing."""
    eligible = status["insurance_eligible"]
    left = status["window_minutes_left"]
    window = None
    if left is not None:
        window = (
            f"{left:g} min left to inject"
            if left >= 0
            else f"passed {-left:g} min ago (a surgeon's override is needed)"
        )
    # In the order the case recorded them: the order of the chain.
    volumes = ", ".join(
        f"{k.removesuffix('_ml').replace('_', ' ')} {v:g}" for k, v in status["volumes_ml"].items()
    )
    nv = status["next_visit"]
    factor = status["concentration_factor"]
    return [
        ("state", status["state"]),
        ("next", status["next_command"] or "nothing: the case is finished"),
        ("assessment", status["assessment"]),
        ("override", status["override_reason"]),
        (
            "insurance",
            None
            if eligible is None
            else f"{'yes' if eligible else 'no'} ({status['insurance_basis']})",
        ),
        (
            "specimen",
            f"{status['specimen_id']} harvested {when(status['harvested_at'])}"
            if status["specimen_id"]
            else None,
        ),
        ("window", window),
        ("volumes mL", volumes or None),
        ("factor", f"{factor:g}x" if factor else None),
        ("injected", when(status["injected_at"]) if status["injected_at"] else None),
        ("visits", ", ".join(status["visits_recorded"]) or None),
        ("next visit", f"{nv['visit']} due {when(nv['due_at'])}" if nv else None),
        ("reason", status["end_reason"]),
        ("late", _late(status)),
        ("deviations", _deviations(status.get("deviations") or [])),
        ("protocol", _protocol(status)),
        ("updated", f"{when(status['updated_at'])} ({status['entries']} entries)"),
    ]


def signed_by(row: dict[str, Any]) -> str:
    """Who signed a timeline entry: printed name, id, role and meaning (and the verifier)."""
    name = for_terminal(row["operator_name"])
    who = f"{name} ({row['operator']}, {row['role']}, {row['meaning']})"
    if row["verifier"]:
        v = row["verifier"]
        who += f"; verified by {for_terminal(v['operator_name'])} ({v['operator']}, {v['role']})"
    return who


def signed_when(row: dict[str, Any]) -> str:
    """When an entry was signed (local time and UTC) and with which key."""
    local_time, utc_time = when(row["recorded_at"]), utc(row["recorded_at"])
    at = local_time if local_time.endswith(" UTC") else f"{local_time} ({utc_time})"
    if row["key"] is None:
        return f"signed {at}, before keys (its hash is its proof)"
    text = f"signed {at}, key {row['key']}"
    if row["verifier"] and row["verifier"]["key"]:
        text += f"; verifier's key {row['verifier']['key']}"
    return text


def entry_mark(row: dict[str, Any]) -> str:
    """An entry's seq; a refusal's `R` and its number; `*` after an entry logged late."""
    if row.get("kind") == "refusal":
        return f"R{row['refusal']}"
    return f"{row['seq']}{'*' if row.get('late') else ''}"


def timeline_line(row: dict[str, Any]) -> str:
    """One timeline entry on one line (plus its corrections)."""
    move = (
        (
            f"{row['from_state']} -> {row['to_state']}"
            if row["from_state"] != row["to_state"]
            else row["to_state"]
        )
        if row["from_state"]
        else f"-> {row['to_state']}"
    )
    # Stored text reaches the terminal escaped: a reason cannot clear the screen (text_policy).
    data = for_terminal(", ".join(f"{k}={v}" for k, v in row["data"].items()))
    who = signed_by(row)
    text = f"{entry_mark(row):>3}  {when(row['at'])}  {row['action']:<16} {move}  {who}"
    text += f"\n     {signed_when(row)}"
    if data:
        text += f"\n     {data}"
    reason = for_terminal(row["reason"] or "")
    if row.get("kind") == "refusal":
        text += f"\n     REFUSED ({row['rule']}), the case did not move: {reason}"
    elif reason:
        text += f"\n     reason: {reason}"
    if late := row.get("late"):
        text += f"\n     LATE: logged {late['minutes']:g} min after; {for_terminal(late['reason'])}"
    for c in row["corrected_by"]:
        # The original value stays in sight next to who changed it and why.
        was = for_terminal(
            ", ".join(f"{k} was {row['original_data'].get(k)}" for k in c["changes"])
        )
        by, why = for_terminal(c["operator_name"]), for_terminal(c["reason"])
        text += f"\n     corrected by {by} in entry {c['seq']} ({was}): {why}"
    return text


def _late(status: dict[str, Any]) -> str | None:
    seqs = status.get("late_entries") or []
    return "entries " + ", ".join(map(str, seqs)) + " logged late (timeline)" if seqs else None


def _protocol(status: dict[str, Any]) -> str:
    defaults = status.get("protocol_defaults") or []
    shown = str(status["protocol_version"])
    return shown + (f" (defaults for: {', '.join(defaults)})" if defaults else "")


def _deviations(found: list[dict[str, Any]]) -> str | None:
    if not found:
        return None
    return ", ".join(
        f"#{d['deviation']} {d['kind']} ({'open' if d['open'] else 'closed'})" for d in found
    )
