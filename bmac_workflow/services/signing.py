"""Sign-in: an operator proves who they are with their PIN before anything is written."""

from __future__ import annotations

from datetime import datetime

from ..errors import NotPermitted
from ..people import Operator, attempt, refusal
from ..protocol import Protocol
from ..store.unit_of_work import UnitOfWork
from ..timeutil import iso


def sign_in(
    operator_id: str | None, pin: str | None, protocol: Protocol, now: datetime, uow: UnitOfWork
) -> Operator:
    """The signed-in operator, or NotPermitted; wrong PINs and locks are stored either way."""
    if not operator_id:
        raise NotPermitted(
            "this command needs an operator: give --operator ID or set BMAC_OPERATOR"
        )
    if pin is None:
        raise NotPermitted(
            "this command needs the operator's PIN: run it in a terminal to be asked, "
            "or set BMAC_PIN"
        )
    with uow:
        operator = uow.repo.operator(operator_id)
        if operator is None:
            raise NotPermitted(
                f"sign-in failed: there is no operator {operator_id!r}; check --operator or "
                "BMAC_OPERATOR (`bmac operator list` shows who exists)"
            )
        if not operator.active:
            raise NotPermitted(f"operator {operator_id} is deactivated and can no longer sign")
        outcome = attempt(operator, pin, now, protocol.max_failed_pins, protocol.lock_minutes)
        if (outcome.failed_pins, outcome.locked_until) != (
            operator.failed_pins,
            operator.locked_until,
        ):
            uow.repo.update_operator(
                operator_id, failed_pins=outcome.failed_pins, locked_until=outcome.locked_until
            )
        for event in outcome.events:
            uow.repo.operator_event(operator_id, event, iso(now), None, {})
        uow.commit()
    if not outcome.ok:
        raise refusal(operator, outcome, protocol.max_failed_pins)
    return operator
