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


def emit_json(value: Any) -> None:
    """Print JSON, stable and readable."""
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False))


def when(value: str | None) -> str:
    """A stored time as local text, or a dash."""
    return local(value) if value else "-"


def status_text(status: dict[str, Any]) -> str:
    """The status object as lines a person reads."""
    lines = [
        f"case {status['case_id']}  patient {status['patient_ref']}  {status['knee']} knee",
        f"state:       {status['state']}",
        f"next:        {status['next_command'] or 'nothing: the case is finished'}",
    ]
    if status["assessment"]:
        lines.append(f"assessment:  {status['assessment']}")
    if status["override_reason"]:
        lines.append(f"override:    {status['override_reason']}")
    if status["insurance_eligible"] is not None:
        flag = "yes" if status["insurance_eligible"] else "no"
        lines.append(f"insurance:   {flag} ({status['insurance_basis']})")
    if status["specimen_id"]:
        lines.append(
            f"specimen:    {status['specimen_id']} harvested {when(status['harvested_at'])}"
        )
    if status["window_minutes_left"] is not None:
        left = status["window_minutes_left"]
        lines.append(
            f"window:      {left:g} min left to inject"
            if left >= 0
            else f"window:      passed {-left:g} min ago (a surgeon's override is needed)"
        )
    if status["volumes_ml"]:
        vols = ", ".join(f"{k.removesuffix('_ml')} {v:g}" for k, v in status["volumes_ml"].items())
        lines.append(f"volumes mL:  {vols}")
    if status["concentration_factor"]:
        lines.append(f"factor:      {status['concentration_factor']:g}x")
    if status["injected_at"]:
        lines.append(f"injected:    {when(status['injected_at'])}")
    if status["visits_recorded"]:
        lines.append(f"visits:      {', '.join(status['visits_recorded'])}")
    if status["next_visit"]:
        nv = status["next_visit"]
        lines.append(f"next visit:  {nv['visit']} due {when(nv['due_at'])}")
    if status["end_reason"]:
        lines.append(f"reason:      {status['end_reason']}")
    lines.append(f"protocol:    {status['protocol_version']}")
    lines.append(f"updated:     {when(status['updated_at'])} ({status['entries']} entries)")
    return "\n".join(lines)


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
    who = f"{row['operator_name']} ({row['operator']}, {row['role']}, {row['meaning']})"
    if row["verifier"]:
        v = row["verifier"]
        who += f"; verified by {v['operator_name']} ({v['operator']}, {v['role']})"
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
