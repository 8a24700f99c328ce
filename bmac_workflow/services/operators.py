"""Managing operators: add, deactivate, reset a PIN. Only an admin, except the very first.

A new PIN is asked (`new_pin()`) only once everything else is known to be right: the admin
signed in, the operator to change exists (3), the admin may manage operators (6), the new
operator's id, name and role are well formed (5).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from ..errors import BmacError, InvalidData, NotFound, NotPermitted
from ..operators import Operator, SignInLimits, check_new_operator, hash_pin
from ..roles import ADMIN, check_permitted
from ..timeutil import iso
from .recording import Clock
from .signing import Credentials, SignedIn, record, record_alone, sign_in

if TYPE_CHECKING:
    from ..store.database import Database
    from ..store.repository import Repository

NewPin = Callable[[], str]


def add_operator(
    operator_id: str,
    name: str,
    role: str,
    new_pin: NewPin,
    by: Credentials,
    limits: SignInLimits,
    clock: Clock,
    db: Database,
) -> Operator:
    """Add an operator; `by` signs in as an admin, unless the database has no operator yet
    (the first one must be an admin, and needs no sign-in)."""
    with db.read() as uow:
        first = uow.repo.operator_count() == 0
    signed = None if first else sign_in(by, limits, clock(), db)
    now = clock()
    try:
        if signed is not None:
            check_permitted("manage_operators", signed.operator.role)
        check_new_operator(operator_id, name, role)
        if first and role != ADMIN:
            raise InvalidData(
                "the first operator of a new database must be an admin (--role admin)"
            )
        pin_hash = hash_pin(new_pin())
        with db.write() as uow:
            admin = record(signed, now, uow) if signed else None
            if admin is None and uow.repo.operator_count() > 0:
                raise NotPermitted(
                    "operators exist already: an admin must sign in to add one (--operator ID)"
                )
            if uow.repo.operator(operator_id) is not None:
                raise InvalidData(f"operator {operator_id} exists already: choose another id")
            operator = Operator(operator_id, name.strip(), role, True, pin_hash)
            uow.repo.add_operator(operator, iso(now))
            uow.repo.operator_event(
                operator_id,
                "added",
                iso(now),
                admin.id if admin else None,
                {"name": operator.name, "role": role},
            )
            uow.commit()
        return operator
    except BmacError:
        if signed is not None:
            record_alone(signed, now, db)
        raise


def _target(repo: Repository, operator_id: str) -> Operator:
    target = repo.operator(operator_id)
    if target is None:
        raise NotFound(f"no operator {operator_id!r}: see `bmac operator list`")
    return target


def _admin_on(
    operator_id: str, by: Credentials, limits: SignInLimits, clock: Clock, db: Database
) -> SignedIn:
    """Sign the admin in, then refuse what cannot be done: no such operator (3), no admin (6).

    The README's order of checks puts "what the command acts on exists" before the role.
    """
    signed = sign_in(by, limits, clock(), db)
    try:
        with db.read() as uow:
            _target(uow.repo, operator_id)
        check_permitted("manage_operators", signed.operator.role)
    except BmacError:
        record_alone(signed, clock(), db)
        raise
    return signed


def deactivate(
    operator_id: str, by: Credentials, limits: SignInLimits, clock: Clock, db: Database
) -> None:
    """Stop an operator from signing; their history and signatures stay."""
    signed = _admin_on(operator_id, by, limits, clock, db)
    now = clock()
    try:
        with db.write() as uow:
            admin = record(signed, now, uow)
            target = _target(uow.repo, operator_id)
            if target.id == admin.id:
                raise InvalidData("an admin cannot deactivate themselves: ask another admin")
            if not target.active:
                raise InvalidData(f"operator {operator_id} is already deactivated")
            uow.repo.update_operator(operator_id, active=False)
            uow.repo.operator_event(operator_id, "deactivated", iso(now), admin.id, {})
            uow.commit()
    except BmacError:
        record_alone(signed, now, db)
        raise


def reset_pin(
    operator_id: str,
    new_pin: NewPin,
    by: Credentials,
    limits: SignInLimits,
    clock: Clock,
    db: Database,
) -> None:
    """Give an operator a new PIN and lift any lock (the release is recorded as "unlocked")."""
    signed = _admin_on(operator_id, by, limits, clock, db)
    now = clock()
    try:
        pin_hash = hash_pin(new_pin())
        with db.write() as uow:
            admin = record(signed, now, uow)
            target = _target(uow.repo, operator_id)
            uow.repo.update_operator(
                operator_id, pin_hash=pin_hash, failed_pins=0, locked_until=None
            )
            uow.repo.operator_event(operator_id, "pin_reset", iso(now), admin.id, {})
            if target.locked_until is not None:
                # Every "locked" gets its "unlocked", even when the period ran out unnoticed.
                reason = "PIN reset by an admin" if target.locked_at(now) else "lock period passed"
                uow.repo.operator_event(
                    operator_id,
                    "unlocked",
                    iso(now),
                    admin.id,
                    {"reason": reason, "locked_until": target.locked_until},
                )
            uow.commit()
    except BmacError:
        record_alone(signed, now, db)
        raise


def list_operators(now: datetime, db: Database) -> list[dict[str, object]]:
    """Every operator, without their PIN hash; `locked_until` only while the lock holds."""
    with db.read() as uow:
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
