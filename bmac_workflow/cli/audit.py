"""`bmac audit ...`: prove the record was not altered."""

from __future__ import annotations

import click

from ..errors import RecordAltered
from .app import App


@click.group()
def audit() -> None:
    """Verify, checkpoint, replay and export the record.

    \b
    Example:
      bmac audit verify
    """


@audit.command("verify")
@click.argument("case_id", metavar="[CASE]", type=int, required=False)
@click.pass_obj
def verify(app: App, case_id: int | None) -> None:
    """Recompute every hash and replay every case; exit 8 if anything was altered.

    \b
    Example:
      bmac audit verify 1
    """
    from ..audit import verify as run
    from ..errors import NotFound

    uow = app.uow()
    if case_id is not None:
        with uow:
            if uow.repo.case_version(case_id) is None:
                raise NotFound(f"no case {case_id}: see `bmac case list`")
    problems = run(app.uow(), case_id)
    for problem in problems:
        click.echo(str(problem))
    if problems:
        first = problems[0]
        raise RecordAltered(f"the record was altered: {len(problems)} problem(s), first at {first}")
    click.echo("record verified: every hash, link and case matches its log")
