"""`bmac demo`: one full case, start to follow-up, on a throwaway database."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from .render import timeline_line


@click.command()
@click.option(
    "--keep",
    type=click.Path(file_okay=False),
    metavar="DIR",
    help="Keep the demo database in DIR instead of deleting it.",
)
def demo(keep: str | None) -> None:
    """Run one full case (open, assess, six steps, two visits, close) on a throwaway database.

    \b
    Example:
      bmac demo
    """
    with tempfile.TemporaryDirectory(prefix="bmac-demo-") as tmp:
        folder = Path(keep) if keep else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        _run(f"sqlite:///{folder / 'demo.sqlite3'}")
        if keep:
            click.echo(f"\ndemo database kept: sqlite:///{folder / 'demo.sqlite3'}")


def _run(url: str) -> None:
    from ..audit import verify
    from ..protocol import load
    from ..services import cases, operators, queries
    from ..services.signing import sign_in
    from ..store.engine import make_engine
    from ..store.migrate import upgrade
    from ..store.unit_of_work import UnitOfWork
    from ..timeutil import iso, utcnow
    from .app import settle_heap

    engine = make_engine(url)
    upgrade(engine)
    settle_heap()
    protocol = load(None)

    def uow(write: bool = True) -> UnitOfWork:
        return UnitOfWork(engine, write=write)

    now = utcnow()
    click.echo(f"demo database: {url}")
    operators.add_operator("admin", "Admin Lee", "admin", "0000", None, now, uow())
    admin = sign_in("admin", "0000", protocol, now, uow())
    for op_id, name, role, pin in (
        ("nurse.kim", "Kim Ji-woo", "nurse", "1111"),
        ("nurse.choi", "Choi Min-seo", "nurse", "2222"),
        ("dr.park", "Park Seo-jun", "surgeon", "3333"),
        ("audit.han", "Han Ye-jin", "auditor", "4444"),
    ):
        operators.add_operator(op_id, name, role, pin, admin, now, uow())
        click.echo(f"operator {op_id}: {name}, {role}")
    nurse = sign_in("nurse.kim", "1111", protocol, now, uow())
    verifier = sign_in("nurse.choi", "2222", protocol, now, uow())
    surgeon = sign_in("dr.park", "3333", protocol, now, uow())

    # Back-dated (--at) so that the injection is 40 days ago and two visits are already due.
    start = now - timedelta(days=40, hours=3)

    def at(minutes: float) -> str:
        return iso(start + timedelta(minutes=minutes))

    case = cases.open_case("P-0042", "left", protocol, nurse, at(0), now, uow()).case
    cid = case.case_id
    click.echo(f"case {cid} opened for patient P-0042, left knee")
    plan: list[tuple[str, Any, dict[str, Any], float, dict[str, Any]]] = [
        (
            "assess",
            surgeon,
            {
                "kl_grade": 3,
                "icrs_grade": 4,
                "imaging": ["xray", "mri"],
                "leg_deformity": False,
                "baseline_vas": 7,
            },
            10,
            {},
        ),
        (
            "collect",
            nurse,
            {
                "side": "left",
                "aspirate_ml": 60,
                "anticoagulant": "heparin",
                "kit_lot": "K-2291",
                "specimen_id": "SP-0042-L",
            },
            30,
            {},
        ),
        ("filter", nurse, {"filter_lot": "F-778", "filtered_ml": 55}, 40, {}),
        (
            "centrifuge",
            nurse,
            {"device_id": "CF-02", "g_force": 1500, "duration_min": 10, "spins": 2},
            60,
            {},
        ),
        ("remove_plasma", nurse, {"plasma_removed_ml": 45, "rbc_removed": True}, 70, {}),
        ("concentrate", nurse, {"concentrate_ml": 6, "cell_count_per_ul": 42000}, 75, {}),
        (
            "inject",
            surgeon,
            {
                "knee": "left",
                "injected_ml": 5,
                "guidance": "ultrasound",
                "specimen_id": "SP-0042-L",
                "verifier_id": "nurse.choi",
            },
            95,
            {"verifier": verifier},
        ),
        ("record_follow_up", nurse, {"visit": "1w", "vas": 5, "koos": 58}, 95 + 7 * 1440, {}),
        ("record_follow_up", nurse, {"visit": "1m", "vas": 3, "koos": 71}, 95 + 30 * 1440, {}),
        ("close", surgeon, {}, 95 + 30 * 1440 + 5, {"reason": "demo ends after the 1-month visit"}),
    ]
    for trigger, who, values, minutes, extra in plan:
        change = cases.fire(cid, trigger, values, who, at(minutes), now, uow(), **extra)
        e = change.entry
        click.echo(f"  {e.seq:>2}. {trigger:<17} {e.from_state} -> {e.to_state}  by {who.id}")
        if trigger == "assess":
            click.echo(f"      {e.data['reason']}; insurance: {e.data['insurance_basis']}")
        if trigger == "concentrate":
            click.echo(f"      concentration factor {e.data['concentration_factor']}x")
    click.echo("\ntimeline:")
    for row in queries.timeline(cid, uow(write=False)):
        click.echo(timeline_line(row))
    problems = verify(uow(write=False))
    click.echo(f"\naudit verify: {problems or 'clean'}")
