"""The one path every writing command takes: sign in, fire the trigger, report the move."""

from __future__ import annotations

from typing import Any

import click

from .app import App


def fire(
    app: App,
    case_id: int,
    trigger: str,
    values: dict[str, Any],
    at: str | None,
    *,
    reason: str | None = None,
    verifier_id: str | None = None,
) -> None:
    """Run `trigger` on a case for the signed-in operator and print where the case went."""
    from ..services.cases import fire as run
    from ..services.cases import precheck
    from ..states import COMMANDS, next_step

    # Read before the PIN prompt: if the case moves while the operator types, that is a conflict.
    expected = app.case_version(case_id)
    signer = app.sign_in()
    verifier = None
    if verifier_id is not None and verifier_id == signer.id:
        verifier = signer  # refused by the second-person guard, in the machine's order
    elif verifier_id is not None:
        # The verifier's PIN is a guard (SPEC §5): asked only once the step could happen.
        precheck(case_id, trigger, values, signer, at, app.now(), app.uow(), reason=reason)
        verifier = app.sign_in(verifier_id, pin_env="BMAC_VERIFIER_PIN", who="verifier ")
    change = run(
        case_id,
        trigger,
        values,
        signer,
        at,
        app.now(),
        app.uow(write=True),
        expected_version=expected,
        verifier=verifier,
        reason=reason,
    )
    entry = change.entry
    move = (
        entry.to_state
        if entry.from_state == entry.to_state
        else f"{entry.from_state} -> {entry.to_state}"
    )
    click.echo(f"case {case_id}: {trigger} logged as entry {entry.seq} ({move})")
    if trigger == "assess":
        # The decision and its reason (e.g. "refer for arthroplasty") are what the surgeon acts on.
        click.echo(f"assessment: {entry.data['reason']}")
        click.echo(
            f"insurance: {'yes' if entry.data['insurance_eligible'] else 'no'} "
            f"({entry.data['insurance_basis']})"
        )
    step = next_step(change.case.state)
    if step:
        click.echo(f"next: {COMMANDS[step]} {case_id}")
