"""`bmac demo`: one full case, start to follow-up, on a throwaway database."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import click

from .output import timeline_line

# The demo clinic: id, printed name, role, PIN (a throwaway database: the PINs are printed).
PEOPLE = (
    ("admin", "Admin Lee", "admin", "482916"),
    ("nurse.kim", "Kim Ji-woo", "nurse", "735184"),
    ("nurse.choi", "Choi Min-seo", "nurse", "260473"),
    ("dr.park", "Park Seo-jun", "surgeon", "918352"),
    ("audit.han", "Han Ye-jin", "auditor", "647021"),
    ("qa.lim", "Lim Ha-eun", "qa", "592817"),
)


@click.command()
@click.option(
    "--keep",
    type=click.Path(file_okay=False),
    metavar="DIR",
    help="Keep the demo database in DIR instead of deleting it.",
)
def demo(keep: str | None) -> None:
    """Run one full case (open, assess, every processing step, two visits, close) on a
    throwaway database.

    \b
    Example:
      bmac demo
    """
    if keep and (Path(keep) / "demo.sqlite3").exists():
        from ..errors import InvalidData

        raise InvalidData(
            f"--keep {keep} holds a demo database already (demo.sqlite3): choose a new folder, "
            "or remove that one first"
        )
    with tempfile.TemporaryDirectory(prefix="bmac-demo-") as tmp:
        folder = Path(keep) if keep else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        _run(f"sqlite:///{folder / 'demo.sqlite3'}")
        if keep:
            click.echo(f"\ndemo database kept: sqlite:///{folder / 'demo.sqlite3'}")


def _run(url: str) -> None:
    from ..protocol import load
    from ..roles import NURSE
    from ..services import cases, deviations, operators, queries
    from ..services.schema import upgrade
    from ..services.signing import Credentials
    from ..services.verification import verify
    from ..states import workflow
    from ..steps import example_values
    from ..store.database import Database
    from ..timeutil import iso, utcnow
    from .app import settle_heap

    db = Database.open(url, check_schema=False)
    upgrade(db)
    settle_heap()
    protocol = load(None)
    pins = {op_id: pin for op_id, _, _, pin in PEOPLE}

    def who(op_id: str) -> Credentials:
        return Credentials(op_id, _given(pins[op_id]))

    click.echo(f"demo database: {url}")
    for op_id, name, role, pin in PEOPLE:
        operators.add_operator(op_id, name, role, _given(pin), who("admin"), utcnow, db)
        click.echo(f"operator {op_id}: {name}, {role}")

    # Back-dated (--at) so that the injection is 40 days ago and two visits are already due.
    start = utcnow() - timedelta(days=40, hours=3)

    def at(minutes: float) -> str:
        return iso(start + timedelta(minutes=minutes))

    nurse, surgeon, second = who("nurse.kim"), who("dr.park"), who("nurse.choi")
    late = "demo: a whole case logged after the fact"  # every entry is late: --late-reason
    opened = cases.open_case("P-0042", "left", None, nurse, at(0), utcnow, db, late)
    case_id = opened.case.case_id
    click.echo(f"case {case_id} opened for patient P-0042, left knee")

    def log(trigger: str, values: dict, minutes: float | None, reason: str | None = None) -> None:  # type: ignore[type-arg]
        step = workflow().by_trigger[trigger]
        signer = nurse if NURSE in step.roles else surgeon
        verifier = second if step.has_verifier() else None
        when, why = (at(minutes), late) if minutes is not None else (None, None)
        request = cases.StepRequest(case_id, trigger, values, when, reason, why)
        change = cases.log_step(request, signer, utcnow, db, verifier)
        e = change.entry
        click.echo(f"  {e.seq:>2}. {trigger:<17} {e.from_state} -> {e.to_state}  by {e.signer.id}")
        for line in step.model.outcome(e.data) if step.model else []:
            click.echo(f"      {line}")

    minutes = 0.0
    for step in workflow().walk:
        minutes += 10
        log(step.trigger, example_values(step), minutes)
    injected = minutes
    follow_up = workflow().by_trigger["record_follow_up"]
    for number, (visit, days) in enumerate(list(protocol.visits.items())[:2]):
        values = {**example_values(follow_up), "visit": visit}
        values["vas"] = max(0, values["vas"] - 2 * number)
        log("record_follow_up", values, injected + days * 1440)
    # Every entry was logged late, so each opened a deviation: quality reviews them before
    # the case may close.
    opened_deviations = deviations.listing(True, db)
    for row in opened_deviations:
        deviations.close(row["deviation"], "a demo case entered after the fact",
                         "none: a demonstration", who("qa.lim"), utcnow, db)  # fmt: skip
    click.echo(f"  qa.lim reviewed and closed {len(opened_deviations)} late-entry deviation(s)")
    log("close", {}, None, reason="demo ends after the 1-month visit")
    click.echo("\ntimeline:")
    for row in queries.timeline(case_id, db):
        click.echo(timeline_line(row))
    problems = verify(db)
    click.echo(f"\naudit verify: {problems or 'clean'}")
    db.dispose()


def _given(pin: str) -> Callable[[], str]:
    """A PIN source that gives `pin` (the demo types nothing)."""
    return lambda: pin
