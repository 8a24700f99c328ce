"""Sign-in: an operator proves who they are with their PIN before anything is signed.

The PIN is checked once per command, on a read (argon2 costs a few hundred milliseconds and must
not hold a write lock). A wrong PIN is recorded at once in a unit of work of its own and the
command is refused; a right one changes nothing yet: what it changes on the operator (the count
of wrong PINs back to zero, a lock that ran out, a hash made under older costs) is written by
the command's own unit of work (`record`), or on its own if the command is refused later.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import BmacError, NotPermitted
from ..operators import Operator, SignInLimits, attempt, hash_rehashed, pin_matches, refusal
from ..timeutil import iso

if TYPE_CHECKING:
    from ..store.database import Database
    from ..store.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Credentials:
    """Who claims to sign, and how to get their PIN: `pin()` is called only when the PIN is
    needed (a prompt happens then), and raises NotPermitted when there is no way to get one."""

    operator_id: str | None
    pin: Callable[[], str | None]


@dataclass(frozen=True)
class SignedIn:
    """An operator whose PIN was right, and what the sign-in changes on their row."""

    operator: Operator
    changes: dict[str, Any]
    events: tuple[tuple[str, dict[str, Any]], ...]


def sign_in(
    credentials: Credentials, limits: SignInLimits, now: datetime, db: Database
) -> SignedIn:
    """Check the operator's PIN, or refuse (exit 6) after recording the wrong PIN.

    An unknown operator is a failed sign-in (6), not "not found" (3): sign-in comes before
    anything else in the README's order of checks, and 3 is for what a command acts on.
    """
    operator_id = credentials.operator_id
    if not operator_id:
        raise NotPermitted(
            "this command needs an operator: give --operator ID or set BMAC_OPERATOR"
        )
    pin = credentials.pin()
    if pin is None:
        raise NotPermitted(
            f"this command needs the PIN of operator {operator_id}: run it in a terminal to be "
            "asked, or set BMAC_PIN"
        )
    with db.read() as uow:
        operator = _signable(uow, operator_id)
    pin_ok = not operator.locked_at(now) and pin_matches(operator.pin_hash, pin)
    if not pin_ok:
        _record_failure(operator_id, limits, now, db)
    outcome = attempt(operator, True, now, limits)
    changes: dict[str, Any] = {}
    if (outcome.failed_pins, outcome.locked_until) != (operator.failed_pins, operator.locked_until):
        changes.update(failed_pins=0, locked_until=None)
    # A hash made under other (older) parameters is re-made while the PIN is at hand.
    new_hash = hash_rehashed(operator.pin_hash, pin)
    if new_hash is not None:
        changes["pin_hash"] = new_hash
    return SignedIn(operator, changes, outcome.events)


def _signable(uow: UnitOfWork, operator_id: str, lock: bool = False) -> Operator:
    operator = uow.repo.operator(operator_id, lock=lock)
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
    return operator


def _record_failure(operator_id: str, limits: SignInLimits, now: datetime, db: Database) -> None:
    """Count the wrong PIN (or the attempt while locked) on the operator's locked row, commit,
    and refuse: wrong PINs typed at once on several workstations all count."""
    with db.write() as uow:
        operator = _signable(uow, operator_id, lock=True)
        outcome = attempt(operator, False, now, limits)
        if (outcome.failed_pins, outcome.locked_until) != (
            operator.failed_pins,
            operator.locked_until,
        ):
            uow.repo.update_operator(
                operator_id, failed_pins=outcome.failed_pins, locked_until=outcome.locked_until
            )
        for action, detail in outcome.events:
            uow.repo.operator_event(operator_id, action, iso(now), None, detail)
        uow.commit()
    raise refusal(operator, outcome, limits.max_failed_pins)


def record(signed: SignedIn, now: datetime, uow: UnitOfWork, waited: bool = False) -> Operator:
    """Write what the sign-in changes on the operator in the command's unit of work; returns the
    operator. When it changes something, or when the command `waited` (for a second person's
    PIN) since the sign-in, first check that nobody deactivated them or reset their PIN since:
    otherwise the sign-in's read, a moment ago, stands."""
    if not (signed.changes or signed.events or waited):
        return signed.operator
    current = _signable(uow, signed.operator.id, lock=True)
    if current.pin_hash != signed.operator.pin_hash:
        raise NotPermitted(
            f"the PIN of operator {current.id} was reset while this command ran: sign in again"
        )
    if signed.changes:
        uow.repo.update_operator(current.id, **signed.changes)
    for action, detail in signed.events:
        uow.repo.operator_event(current.id, action, iso(now), None, detail)
    return current


def record_alone(signed: SignedIn, now: datetime, db: Database) -> None:
    """Write what a sign-in changes when the command it was for was refused."""
    if not signed.changes and not signed.events:
        return
    try:
        with db.write() as uow:
            record(signed, now, uow)
            uow.commit()
    except BmacError:
        pass  # deactivated or reset meanwhile: the next sign-in will find out


def limits_of(protocol: Any) -> SignInLimits:
    """The sign-in limits a protocol sets."""
    return SignInLimits(protocol.max_failed_pins, protocol.lock_minutes)
