"""`bmac followup ...`: the visits after the injection."""

from __future__ import annotations

import re
from datetime import timedelta

import click

from .app import App
from .render import at_option, case_argument, emit_json, json_option
from .writing import fire

_SPAN = re.compile(r"(\d+)\s*([dwh])")


def parse_span(text: str) -> timedelta:
    """`7d`, `2w` or `12h` as a timedelta."""
    match = _SPAN.fullmatch(text.strip().lower())
    if not match:
        raise click.BadParameter("use a number and d, w or h, e.g. 7d", param_hint="--within")
    n, unit = int(match.group(1)), match.group(2)
    return {"d": timedelta(days=n), "w": timedelta(weeks=n), "h": timedelta(hours=n)}[unit]


@click.group()
def followup() -> None:
    """Record follow-up visits and list the ones due.

    \b
    Example:
      bmac followup due --within 14d
    """


@followup.command("record")
@case_argument()
@click.option(
    "--visit", required=True, type=click.Choice(["1w", "1m", "3m", "6m", "12m", "24m", "adhoc"])
)
@click.option("--vas", required=True, type=float, help="Pain, VAS 0-10.")
@click.option("--koos", type=float, help="KOOS 0-100 (optional).")
@click.option("--womac", type=float, help="WOMAC 0-96 (optional).")
@click.option(
    "--adverse-event", "adverse_events", multiple=True, metavar="TEXT", help="Repeatable."
)
@click.option("--arthroplasty", is_flag=True, help="The knee went on to arthroplasty.")
@at_option
@click.pass_obj
def record(
    app: App,
    case_id: int,
    visit: str,
    vas: float,
    koos: float | None,
    womac: float | None,
    adverse_events: tuple[str, ...],
    arthroplasty: bool,
    at: str | None,
) -> None:
    """Record a follow-up visit.

    \b
    Example:
      bmac --operator nurse.kim followup record 1 --visit 1w --vas 5 --koos 61
    """
    fire(
        app,
        case_id,
        "record_follow_up",
        {
            "visit": visit,
            "vas": vas,
            "koos": koos,
            "womac": womac,
            "adverse_events": list(adverse_events),
            "arthroplasty": arthroplasty,
        },
        at,
    )


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
    from ..services.queries import due as run

    rows = run(parse_span(within), app.now(), app.uow())
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo(f"no visits due within {within}", err=True)
        return
    from .style import table

    table(
        ["case", "patient", "knee", "visit", "due", "late"],
        [
            [r["case_id"], r["patient_ref"], r["knee"], r["visit"], r["due_date"],
             f"{r['days_overdue']} days overdue" if r["days_overdue"] else "-"]
            for r in rows
        ],
        right=("case",),
    )  # fmt: skip
