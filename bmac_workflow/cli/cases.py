"""`bmac case ...`: open, assess, query, cancel and close cases."""

from __future__ import annotations

import click

from .app import App
from .options import at_option, case_argument, json_option
from .output import (
    emit_json,
    entry_mark,
    signed_by,
    status_pairs,
    status_title,
    timeline_line,
    when,
)
from .step_commands import DeclaredGroup


class StateName(click.ParamType):  # type: ignore[type-arg]
    """A state of the workflow, checked against states.py only when the option is used."""

    name = "state"

    def convert(self, value: str, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from ..states import workflow

        states = workflow().states
        if value not in states:
            self.fail(f"{value!r} is not a state; use one of: {', '.join(states)}", param, ctx)
        return value


@click.group(cls=DeclaredGroup)
def case() -> None:
    """Open, assess, query, cancel and close cases (assess, cancel and close: steps.py).

    \b
    Example:
      bmac case list --state injection
    """


@case.command("open")
@click.option(
    "--patient", required=True, metavar="REF", help="The clinic's pseudonymous patient number."
)
@click.option("--knee", required=True, type=click.Choice(["left", "right"]))
@at_option
@click.pass_obj
def open_(app: App, patient: str, knee: str, at: str | None, late_reason: str | None) -> None:
    """Open a case for one knee; prints the new case id alone.

    \b
    Example:
      bmac --operator nurse.kim case open --patient P-0042 --knee left
    """
    from ..services.cases import open_case

    protocol = app.protocol()
    change = open_case(
        patient, knee, protocol, app.credentials(), at, app.now, app.database(), late_reason
    )
    click.echo(change.case.case_id)


@case.command("status")
@case_argument()
@json_option
@click.pass_obj
def status(app: App, case_id: int, as_json: bool) -> None:
    """Show where a case stands and what comes next.

    \b
    Example:
      bmac case status 1 --json
    """
    from ..services.reads import case_status

    result = case_status(app.reader(), case_id, app.now(), app.for_reading())
    if as_json:
        emit_json(result)
        return
    from .output import fields

    fields(status_pairs(result), title=status_title(result))


@case.command("list")
@click.option("--state", type=StateName(), help="Only cases in this state.")
@click.option(
    "--limit", type=click.IntRange(1, 1000), default=50, show_default=True, help="Cases a page."
)
@click.option(
    "--page", type=click.IntRange(1, 10**9), default=1, show_default=True, help="Which page."
)
@json_option
@click.pass_obj
def list_(app: App, state: str | None, limit: int, page: int, as_json: bool) -> None:
    """List cases, newest first, a page at a time.

    \b
    Example:
      bmac case list --state follow_up --limit 20
    """
    from ..services.reads import case_list

    rows, total = case_list(app.reader(), state, limit, page, app.now(), app.for_reading())
    if as_json:
        emit_json(rows)
        return
    from .output import table

    table(
        ["case", "patient", "knee", "state", "next", "updated"],
        [
            [r["case_id"], r["patient_ref"], r["knee"], r["state"], r["next_step"] or "-",
             when(r["updated_at"])]
            for r in rows
        ],
        right=("case",),
    )  # fmt: skip
    shown = (page - 1) * limit + len(rows)
    more = max(total - shown, 0)
    click.echo(
        f"{len(rows)} shown, {more} more" + (f" (--page {page + 1})" if more else ""), err=True
    )


@case.command("timeline")
@case_argument()
@json_option
@click.pass_obj
def timeline(app: App, case_id: int, as_json: bool) -> None:
    """Every entry of a case, oldest first, with who signed it.

    \b
    Example:
      bmac case timeline 1 --json
    """
    from ..services.reads import case_timeline

    rows = case_timeline(app.reader(), case_id, app.now(), app.for_reading())
    if as_json:
        emit_json(rows)
        return
    from .output import is_rich, table

    if not is_rich():
        for row in rows:
            click.echo(timeline_line(row))
        return
    table(
        ["seq", "at", "action", "from", "to", "signed by", "data"],
        [
            [entry_mark(r), when(r["at"]), r["action"], r["from_state"], r["to_state"],
             signed_by(r), ", ".join(f"{k}={v}" for k, v in r["data"].items())]
            for r in rows
        ],
        right=("seq",),
    )  # fmt: skip


@case.command("correct")
@case_argument()
@click.option(
    "--entry", "seq", type=click.IntRange(1, 10**9), required=True, metavar="SEQ",
    help="Entry to correct.",
)  # fmt: skip
@click.option(
    "--set",
    "settings",
    multiple=True,
    required=True,
    metavar="FIELD=VALUE",
    help="A corrected value, by its field name in `case timeline --json` (repeatable).",
)
@click.option("--reason", required=True, metavar="TEXT", help="Why the entry was wrong.")
@at_option
@click.pass_obj
def correct(
    app: App,
    case_id: int,
    seq: int,
    settings: tuple[str, ...],
    reason: str,
    at: str | None,
    late_reason: str | None,
) -> None:
    """Correct an entry with a new one that points at it (its operator, or a surgeon).

    The original stays in the record; status and timeline show the corrected value, who
    corrected it and why. A change of the case's path (candidacy, knee, injected specimen)
    is refused: that is a new case.

    \b
    Example:
      bmac --operator nurse.kim case correct 1 --entry 3 --set aspirate_ml=62 \\
          --reason "read 60 off the syringe; the scale said 62"
    """
    from ..errors import InvalidData
    from ..services.corrections import correct as run
    from ..services.corrections import parse_settings

    try:
        changes = parse_settings(list(settings))
    except InvalidData as exc:  # a malformed option is a usage error (exit 2), before the PIN
        raise click.BadParameter(exc.message, param_hint="--set") from None
    done = run(
        case_id,
        seq,
        changes,
        reason,
        app.credentials(),
        at,
        app.now,
        app.database(),
        late_reason,
    )
    for entry in done.entries:
        values = ", ".join(
            f"{k} {entry.data['previous'].get(k)} -> {v}" for k, v in entry.data["changes"].items()
        )
        click.echo(
            f"case {case_id}: entry {entry.corrects} corrected in entry {entry.seq} ({values})"
        )
