"""Sign-in: an operator proves who they are with their PIN before anything is written."""

from __future__ import annotations

from datetime import datetime

from ..errors import NotPermitted
from ..people import Operator, attempt, hash_rehashed, refusal
from ..protocol import Protocol
from ..store.unit_of_work import UnitOfWork
from ..timeutil import iso


def sign_in(
    operator_id: str | None, pin: str | None, protocol: Protocol, now: datetime, uow: UnitOfWork
) -> Operator:
    """The signed-in operator, or NotPermitted (exit 6).

    The attempt is committed before the refusal is raised: a wrong PIN counts, and a lock or
    its release is recorded in the operator history, even though the command itself fails.
    An unknown operator is a failed sign-in (6), not "not found" (3): sign-in comes before
    anything else in the SPEC's order of checks, and 3 is for what a command acts on.
    """
    if not operator_id:
        raise NotPermitted(
            "this command needs an operator: give --operator ID or set BMAC_OPERATOR"
        )
    if pin is None:
        raise NotPermitted(
            f"this command needs the PIN of operator {operator_id}: run it in a terminal to be "
            "asked, or set BMAC_PIN"
        )
    with uow:
        # Locked, so that wrong PINs typed at once on several workstations all count.
        operator = uow.repo.operator(operator_id, lock=True)
        if operator is None:
            raise NotPermitted(
                f"sign-in failed: there is no operator {operator_id!r}; check --operator or "
                "BMAC_OPERATOR (`bmac operator list` shows who exists)"
            )
        if not operator.active:
            raise NotPermitted(
                f"operator {operator_id} is deactivated and can no longer sign: "
                "ask an admin (`bmac operator list`)"
            )
        outcome = attempt(operator, pin, now, protocol.max_failed_pins, protocol.lock_minutes)
        changes: dict[str, object] = {}
        if (outcome.failed_pins, outcome.locked_until) != (
            operator.failed_pins,
            operator.locked_until,
        ):
            changes.update(failed_pins=outcome.failed_pins, locked_until=outcome.locked_until)
        if outcome.ok:
            # A hash made under other (older) parameters is re-made while the PIN is at hand.
            new_hash = hash_rehashed(operator.pin_hash, pin)
            if new_hash is not None:
                changes["pin_hash"] = new_hash
        if changes:
            uow.repo.update_operator(operator_id, **changes)
        for action, detail in outcome.events:
            uow.repo.operator_event(operator_id, action, iso(now), None, detail)
        uow.commit()
    if not outcome.ok:
        raise refusal(operator, outcome, protocol.max_failed_pins)
    return operator
