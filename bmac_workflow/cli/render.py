"""Output: JSON for machines, plain lines for people."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..timeutil import local

F = TypeVar("F", bound=Callable[..., Any])


def json_option(func: F) -> F:
    """The shared `--json` flag."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(func)


def at_option(func: F) -> F:
    """The shared `--at TIME` option of every writing command."""
    return click.option(
        "--at",
        metavar="TIME",
        help="Clinical time, ISO 8601 (default now; local time unless a zone is given).",
    )(func)


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


def emit_json(value: Any) -> None:
    """Print JSON, stable and readable."""
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False))


def when(value: str | None) -> str:
    """A stored time as local text, or a dash."""
    return local(value) if value else "-"


def status_title(status: dict[str, Any]) -> str:
    """The first line of a status: which case, which patient, which knee."""
    return f"case {status['case_id']}  patient {status['patient_ref']}  {status['knee']} knee"


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
    from ..record import VOLUMES  # the order of the chain (the stored snapshot sorts its keys)

    vols = status["volumes_ml"]
    volumes = ", ".join(
        f"{k.removesuffix('_ml').replace('_', ' ')} {vols[k]:g}" for k in VOLUMES if k in vols
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
        ("protocol", status["protocol_version"]),
        ("updated", f"{when(status['updated_at'])} ({status['entries']} entries)"),
    ]


def signed_by(row: dict[str, Any]) -> str:
    """Who signed a timeline entry: printed name, id, role and meaning (and the verifier)."""
    who = f"{row['operator_name']} ({row['operator']}, {row['role']}, {row['meaning']})"
    if row["verifier"]:
        v = row["verifier"]
        who += f"; verified by {v['operator_name']} ({v['operator']}, {v['role']})"
    return who


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
    data = ", ".join(f"{k}={v}" for k, v in row["data"].items())
    who = signed_by(row)
    text = f"{row['seq']:>3}  {when(row['at'])}  {row['action']:<16} {move}  {who}"
    if data:
        text += f"\n     {data}"
    if row["reason"]:
        text += f"\n     reason: {row['reason']}"
    for c in row["corrected_by"]:
        # The original value stays in sight next to who changed it and why.
        was = ", ".join(f"{k} was {row['original_data'].get(k)}" for k in c["changes"])
        text += (
            f"\n     corrected by {c['operator_name']} in entry {c['seq']} ({was}): {c['reason']}"
        )
    return text
