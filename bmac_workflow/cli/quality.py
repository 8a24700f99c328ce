"""`bmac lot ...` and `bmac device ...`: kit lot holds and the clinic's devices (signed acts of
the quality log)."""

from __future__ import annotations

from collections.abc import Callable

import click

from .app import App
from .options import AT_HELP, F, json_option
from .output import emit_json, when


@click.group()
def lot() -> None:
    """Hold and release kit lots (qa or surgeon; signed).

    \b
    Example:
      bmac --operator qa lot hold K-2291 --reason "supplier recall 2026-12"
    """


def _reason_option(what: str) -> Callable[[F], F]:
    return click.option("--reason", required=True, metavar="TEXT", help=what)


@lot.command("hold")
@click.argument("lot_ref", metavar="LOT")
@_reason_option("Why the lot is held (a recall, a complaint).")
@click.pass_obj
def hold(app: App, lot_ref: str, reason: str) -> None:
    """Hold a kit lot: every case that used it stops at its next step, and no step may name it.

    \b
    Example:
      bmac --operator qa lot hold K-2291 --reason "supplier recall 2026-12"
    """
    from ..services.quality import hold as run

    act = run(lot_ref, reason, app.credentials(), app.now, app.database())
    click.echo(f"lot {act.subject} held (quality act {act.seq}): `bmac trace lot {act.subject}`")


@lot.command("release")
@click.argument("lot_ref", metavar="LOT")
@_reason_option("Why the lot may be used again.")
@click.pass_obj
def release(app: App, lot_ref: str, reason: str) -> None:
    """Release a held kit lot: the cases that used it go on.

    \b
    Example:
      bmac --operator qa lot release K-2291 --reason "supplier cleared the lot"
    """
    from ..services.quality import release as run

    act = run(lot_ref, reason, app.credentials(), app.now, app.database())
    click.echo(f"lot {act.subject} released (quality act {act.seq})")


@click.group()
def device() -> None:
    """Register devices, their calibration and their daily QC (admin or qa; signed).

    \b
    Example:
      bmac --operator qa device add SC-01 --kind scale --calibration-due 2027-06-30
    """


@device.command("add")
@click.argument("device_id", metavar="ID")
@click.option("--kind", required=True, metavar="KIND", help="Its kind (docs/commands.md).")
@click.option("--calibration-due", "due", required=True, metavar="DATE", help="YYYY-MM-DD.")
@click.pass_obj
def add(app: App, device_id: str, kind: str, due: str) -> None:
    """Register a device: a step naming it then needs it calibrated and QC-passed that day.

    \b
    Example:
      bmac --operator qa device add SC-01 --kind scale --calibration-due 2027-06-30
    """
    from ..services.quality import add_device

    act = add_device(device_id, kind, due, app.credentials(), app.now, app.database())
    click.echo(f"device {act.subject} added ({kind}, calibration due {due})")


@device.command("calibrate")
@click.argument("device_id", metavar="ID")
@click.option("--due", required=True, metavar="DATE", help="Next calibration due, YYYY-MM-DD.")
@click.pass_obj
def calibrate(app: App, device_id: str, due: str) -> None:
    """Record a device's calibration and when the next one is due.

    \b
    Example:
      bmac --operator qa device calibrate SC-01 --due 2027-12-31
    """
    from ..services.quality import calibrate as run

    act = run(device_id, due, app.credentials(), app.now, app.database())
    click.echo(f"device {act.subject} calibrated: next due {act.data['calibration_due']}")


@device.command("qc")
@click.argument("device_id", metavar="ID")
@click.option("--passed/--failed", required=True, help="The outcome of the QC.")
@click.option("--note", metavar="TEXT", help="What was checked or seen.")
@click.option("--at", metavar="TIME", help="When the QC was done: " + AT_HELP)
@click.pass_obj
def qc(app: App, device_id: str, passed: bool, note: str | None, at: str | None) -> None:
    """Record a device's QC: a step naming the device needs a passed QC the same local day.

    \b
    Example:
      bmac --operator qa device qc SC-01 --passed --note "reference weight 100 g"
    """
    from ..services.quality import check

    act = check(device_id, passed, note, app.credentials(), app.now, app.database(), at)
    outcome = "passed" if passed else "failed"
    click.echo(f"device {act.subject} QC {outcome} at {when(act.at)} (quality act {act.seq})")


@device.command("list")
@json_option
@click.pass_obj
def list_(app: App, as_json: bool) -> None:
    """Every registered device with its calibration and last QC, and every lot held now (a
    read: signed in, and logged in the access log).

    \b
    Example:
      bmac device list --json
    """
    from ..services.reads import device_list

    found = device_list(app.reader(), app.now(), app.for_reading())
    if as_json:
        emit_json(found)
        return
    from .output import table

    rows = [
        [
            d["id"],
            d["kind"],
            d["calibration_due"],
            "-" if d["last_qc_at"] is None else when(d["last_qc_at"]),
            {True: "passed", False: "failed", None: "-"}[d["last_qc_passed"]],
        ]
        for d in found["devices"]
    ]
    table(["device", "kind", "calibration due", "last QC", "outcome"], rows, title="devices")
    for held in found["held_lots"]:
        click.echo(f"lot {held['lot']} held since {when(held['since'])} by {held['by']}: "
                   f"{held['reason']}")  # fmt: skip
