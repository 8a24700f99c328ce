"""Managing operators: add, deactivate, reset a PIN. Only an admin, except the very first."""

from __future__ import annotations

from datetime import datetime

from .. import states
from ..errors import InvalidData, NotFound, NotPermitted
from ..people import Operator, check_new_operator, hash_pin
from ..store.unit_of_work import UnitOfWork
from ..timeutil import iso


def is_empty(uow: UnitOfWork) -> bool:
    """True when no operator exists yet (the first one is added without sign-in)."""
    with uow:
        return uow.repo.operator_count() == 0


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
    check_new_operator(operator_id, name, role)
    if by is not None:
        states.check_permitted("manage_operators", by.role)
    pin_hash = hash_pin(pin)
    with uow:
        if by is None and uow.repo.operator_count() > 0:
            raise NotPermitted("operators exist already: an admin must sign in (--operator ID)")
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


def _managed(operator_id: str, by: Operator, uow: UnitOfWork) -> Operator:
    states.check_permitted("manage_operators", by.role)
    target = uow.repo.operator(operator_id)
    if target is None:
        raise NotFound(f"no operator {operator_id!r}: see `bmac operator list`")
    return target


def deactivate(operator_id: str, by: Operator, now: datetime, uow: UnitOfWork) -> None:
    """Stop an operator from signing; their history stays."""
    with uow:
        target = _managed(operator_id, by, uow)
        if target.id == by.id:
            raise InvalidData("an admin cannot deactivate themselves: ask another admin")
        if not target.active:
            raise InvalidData(f"operator {operator_id} is already deactivated")
        uow.repo.update_operator(operator_id, active=False)
        uow.repo.operator_event(operator_id, "deactivated", iso(now), by.id, {})
        uow.commit()


def reset_pin(operator_id: str, pin: str, by: Operator, now: datetime, uow: UnitOfWork) -> None:
    """Give an operator a new PIN and lift any lock."""
    pin_hash = hash_pin(pin)
    with uow:
        _managed(operator_id, by, uow)
        uow.repo.update_operator(operator_id, pin_hash=pin_hash, failed_pins=0, locked_until=None)
        uow.repo.operator_event(operator_id, "pin_reset", iso(now), by.id, {})
        uow.commit()


def list_operators(uow: UnitOfWork) -> list[dict[str, object]]:
    """Every operator, without their PIN hash."""
    with uow:
        return [
            {
                "id": o.id,
                "name": o.name,
                "role": o.role,
                "active": o.active,
                "locked_until": o.locked_until,
            }
            for o in uow.repo.operators()
        ]
