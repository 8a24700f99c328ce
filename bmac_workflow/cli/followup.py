"""`bmac followup ...`: the visits after the injection."""

from __future__ import annotations

import re
from datetime import timedelta

import click

from .app import App
from .options import json_option
from .output import emit_json
from .step_commands import DeclaredGroup

_SPAN = re.compile(r"(\d+)\s*([dwh])")


MAX_SPAN = timedelta(days=100 * 365)


def parse_span(text: str) -> timedelta:
    """`7d`, `2w` or `12h` as a timedelta."""
    match = _SPAN.fullmatch(text.strip().lower())
    if not match:
        raise click.BadParameter("use a number and d, w or h, e.g. 7d", param_hint="--within")
    n, unit = int(match.group(1)), match.group(2)
    span = {"d": timedelta(days=1), "w": timedelta(weeks=1), "h": timedelta(hours=1)}[unit]
    if n > MAX_SPAN / span:
        raise click.BadParameter(
            f"{text.strip()} is more than {MAX_SPAN.days // 365} years ahead: give a shorter span",
            param_hint="--within",
        )
    return n * span


@click.group(cls=DeclaredGroup)
def followup() -> None:
    """Record follow-up visits and list the ones due.

    \b
    Example:
      bmac followup due --within 14d
    """


@followup.command("due")
@click.option(
    "--within",
    default="7d",
    show_default=True,
    metavar="SPAN",
    help="Days ahead to look, e.g. 7d, 2w (overdue visits are always listed).",
)
@json_option
@click.pass_obj
def due(app: App, within: str, as_json: bool) -> None:
    """List every visit due or overdue by the end of the span, by local date.

    \b
    Example:
      bmac followup due --within 7d --json
    """
    from ..services.reads import followups_due

    rows = followups_due(app.reader(), parse_span(within), app.now(), app.for_reading())
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo(f"no visits due within {within}", err=True)
        return
    from .output import table

    table(
        ["case", "patient", "knee", "visit", "due", "late"],
        [
            [r["case_id"], r["patient_ref"], r["knee"], r["visit"], r["due_date"],
             f"{r['days_overdue']} days overdue" if r["days_overdue"] else "-"]
            for r in rows
        ],
        right=("case",),
    )  # fmt: skip
