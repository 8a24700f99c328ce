"""Managing operators: add, deactivate, reset a PIN. Only an admin, except the very first."""

from __future__ import annotations

from datetime import datetime

from .. import states
from ..errors import InvalidData, NotFound, NotPermitted
from ..people import Operator, check_new_operator, hash_pin
from ..store.repository import Repository
from ..store.unit_of_work import UnitOfWork
from ..timeutil import iso


def is_empty(uow: UnitOfWork) -> bool:
    """True when no operator exists yet (the first one is added without sign-in)."""
    with uow:
        return uow.repo.operator_count() == 0


def check_may_manage(operator_id: str | None, by: Operator, uow: UnitOfWork) -> None:
    """Refuse before any new PIN is asked: no such operator (3), or `by` is no admin (6).

    The SPEC's order of checks puts "what the command acts on exists" before the role.
    """
    with uow:
        if operator_id is not None:
            _target(uow.repo, operator_id)
    states.check_permitted("manage_operators", by.role)


def add_operator(
    operator_id: str,
    name: str,
    role: str,
    pin: str,
    by: Operator | None,
    now: datetime,
    uow: UnitOfWork,
) -> Operator:
    """Add an operator; `by` is the signed-in admin, or None for the first operator."""
    if by is not None:
        states.check_permitted("manage_operators", by.role)
    check_new_operator(operator_id, name, role)
    pin_hash = hash_pin(pin)
    with uow:
        if by is None and uow.repo.operator_count() > 0:
            raise NotPermitted(
                "operators exist already: an admin must sign in to add one (--operator ID)"
            )
        if by is None and role != states.ADMIN:
            raise InvalidData(
                "the first operator of a new database must be an admin (--role admin)"
            )
        if uow.repo.operator(operator_id) is not None:
            raise InvalidData(f"operator {operator_id} exists already: choose another id")
        operator = Operator(operator_id, name.strip(), role, True, pin_hash)
        uow.repo.add_operator(operator, iso(now))
        uow.repo.operator_event(
            operator_id,
            "added",
            iso(now),
            by.id if by else None,
            {"name": operator.name, "role": role},
        )
        uow.commit()
    return operator


def _target(repo: Repository, operator_id: str) -> Operator:
    target = repo.operator(operator_id)
    if target is None:
        raise NotFound(f"no operator {operator_id!r}: see `bmac operator list`")
    return target


def deactivate(operator_id: str, by: Operator, now: datetime, uow: UnitOfWork) -> None:
    """Stop an operator from signing; their history and signatures stay."""
    with uow:
        target = _target(uow.repo, operator_id)
        states.check_permitted("manage_operators", by.role)
        if target.id == by.id:
            raise InvalidData("an admin cannot deactivate themselves: ask another admin")
        if not target.active:
            raise InvalidData(f"operator {operator_id} is already deactivated")
        uow.repo.update_operator(operator_id, active=False)
        uow.repo.operator_event(operator_id, "deactivated", iso(now), by.id, {})
        uow.commit()


def reset_pin(operator_id: str, pin: str, by: Operator, now: datetime, uow: UnitOfWork) -> None:
    """Give an operator a new PIN and lift any lock (the release is recorded as "unlocked")."""
    with uow:
        target = _target(uow.repo, operator_id)
        states.check_permitted("manage_operators", by.role)
        pin_hash = hash_pin(pin)
        uow.repo.update_operator(operator_id, pin_hash=pin_hash, failed_pins=0, locked_until=None)
        uow.repo.operator_event(operator_id, "pin_reset", iso(now), by.id, {})
        if target.locked_until is not None:
            # Every "locked" gets its "unlocked", even when the period ran out unnoticed.
            reason = "PIN reset by an admin" if target.locked_at(now) else "lock period passed"
            uow.repo.operator_event(
                operator_id,
                "unlocked",
                iso(now),
                by.id,
                {"reason": reason, "locked_until": target.locked_until},
            )
        uow.commit()


def list_operators(now: datetime, uow: UnitOfWork) -> list[dict[str, object]]:
    """Every operator, without their PIN hash; `locked_until` only while the lock holds."""
    with uow:
        return [
            {
                "id": o.id,
                "name": o.name,
                "role": o.role,
                "active": o.active,
                # A lock that ran out counts from zero again at the next attempt.
                "failed_pins": o.failed_pins if o.locked_until is None or o.locked_at(now) else 0,
                "locked_until": o.locked_until if o.locked_at(now) else None,
            }
            for o in uow.repo.operators()
        ]
