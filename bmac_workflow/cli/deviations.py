"""`bmac deviation ...` and `bmac trace ...`: the overrides to review, and which patients a kit
lot or a device reached."""

from __future__ import annotations

from typing import Any

import click

from .app import App
from .options import at_option, json_option
from .output import emit_json, when


@click.group()
def deviation() -> None:
    """List, show and close deviations (every override opens one).

    \b
    Example:
      bmac deviation list --open
    """


@deviation.command("list")
@click.option("--open", "open_only", is_flag=True, help="Only those still open.")
@json_option
@click.pass_obj
def list_(app: App, open_only: bool, as_json: bool) -> None:
    """Every deviation by number: its case, the entry that opened it, open or closed (a read:
    signed in, and every case listed is in the access log).

    \b
    Example:
      bmac deviation list --open --json
    """
    from ..services.reads import deviation_list

    rows = deviation_list(app.reader(), open_only, app.now(), app.for_reading())
    if as_json:
        emit_json(rows)
        return
    from .output import table

    shown = [
        [r["deviation"], r["case_id"], r["entry"], r["kind"], when(r["opened_at"]),
         r["opened_by"], "open" if r["open"] else f"closed (entry {r['closed_by_entry']})"]
        for r in rows
    ]  # fmt: skip
    columns = ["#", "case", "entry", "kind", "opened", "by", "state"]
    table(columns, shown, right=["#", "case", "entry"])


@deviation.command("show")
@click.argument("number", metavar="N", type=int)
@json_option
@click.pass_obj
def show(app: App, number: int, as_json: bool) -> None:
    """One deviation: the override, its reason, and its root cause and action once closed (a
    read: signed in, and its case is in the access log).

    \b
    Example:
      bmac deviation show 1
    """
    from ..services.reads import deviation_show

    found = deviation_show(app.reader(), number, app.now(), app.for_reading())
    if as_json:
        emit_json(found)
        return
    where = f"case {found['case_id']} entry {found['entry']}"
    opened = f"by {found['opened_by']} at {when(found['opened_at'])}"
    click.echo(f"deviation {number}: {found['kind']}, {where}, {opened}")
    click.echo(f"  why: {found['why'] or '-'}")
    if found["open"]:
        click.echo(f"  open: `bmac deviation close {number} --root-cause TEXT --action TEXT`")
        return
    click.echo(f"  closed by {found['closed_by']} at {when(found['closed_at'])} (entry "
               f"{found['closed_seq']})")  # fmt: skip
    click.echo(f"  root cause: {found['root_cause']}")
    click.echo(f"  action: {found['corrective_action']}")


@deviation.command("close")
@click.argument("number", metavar="N", type=int)
@click.option("--root-cause", required=True, metavar="TEXT", help="Why the override was needed.")
@click.option("--action", required=True, metavar="TEXT", help="What was done about it.")
@at_option
@click.pass_obj
def close(
    app: App, number: int, root_cause: str, action: str, at: str | None, late_reason: str | None
) -> None:
    """Close a deviation (qa or surgeon, not the operator who made the override; signed).

    \b
    Example:
      bmac --operator qa deviation close 1 --root-cause "calibration of CF-02 lapsed" \\
        --action "calibrated CF-02; calibration dates on the weekly checklist"
    """
    from ..services.deviations import close as run

    change = run(
        number, root_cause, action, app.credentials(), app.now, app.database(), at, late_reason
    )
    click.echo(f"deviation {number} closed (case {change.case.case_id}, entry {change.entry.seq})")


@click.group()
def trace() -> None:
    """Which cases used a kit lot or a device, and where they stand (a read: signed in, and
    every case traced is in the access log).

    \b
    Example:
      bmac trace lot K-2291
    """


_REVEAL = "Show patient references (a surgeon or an auditor signed in)."
_KEY = "Key of the patients' pseudonyms (env BMAC_PSEUDONYM_KEY); without it they are withheld."


@trace.command("lot")
@click.argument("lot_ref", metavar="LOT")
@click.option("--reveal", is_flag=True, help=_REVEAL)
@click.option("--key", envvar="BMAC_PSEUDONYM_KEY", metavar="TEXT", help=_KEY)
@json_option
@click.pass_obj
def trace_lot(app: App, lot_ref: str, reveal: bool, key: str | None, as_json: bool) -> None:
    """Every case that used a kit lot at any step: patient, knee, step, injection, state,
    follow-up and adverse events.

    \b
    Example:
      bmac trace lot K-2291 --json
    """
    _trace(app, "lot", lot_ref, None, reveal, key, as_json)


@trace.command("device")
@click.argument("device_id", metavar="ID")
@click.option("--since", metavar="TIME", help="Only steps from this time on (ISO 8601).")
@click.option("--reveal", is_flag=True, help=_REVEAL)
@click.option("--key", envvar="BMAC_PSEUDONYM_KEY", metavar="TEXT", help=_KEY)
@json_option
@click.pass_obj
def trace_device(
    app: App, device_id: str, since: str | None, reveal: bool, key: str | None, as_json: bool
) -> None:
    """Every case a device was used on (from --since on).

    \b
    Example:
      bmac trace device CF-02 --since 2026-12-01
    """
    _trace(app, "device", device_id, since, reveal, key, as_json)


def _trace(
    app: App, kind: str, ref: str, since: str | None, reveal: bool, key: str | None, as_json: bool
) -> None:
    from ..services.reads import trace as run

    rows = run(app.reader(), kind, ref, since, reveal, key, app.now(), app.for_reading())
    if as_json:
        emit_json(rows)
        return
    from .output import table

    table(
        ["case", "patient", "knee", "step", "at", "injected", "state", "visits", "AEs"],
        [_line(r) for r in rows],
        title=f"{kind} {ref}: {len({r['case_id'] for r in rows})} case(s)",
        right=["case", "AEs"],
    )


def _line(row: dict[str, Any]) -> list[object]:
    visits = ",".join(row["follow_up"]["visits"]) or "-"
    return [row["case_id"], row["patient"], row["knee"], row["step"], when(row["at"]),
            when(row["injected_at"]) if row["injected_at"] else "-", row["state"], visits,
            row["adverse_events"]]  # fmt: skip
