"""Managing operators: add, change a role, deactivate, reset a PIN, unlock. Each is an admin's
signed act of the registry; the `operators` table follows it as a cache.

The first operator of a new database is an admin who needs no sign-in: their own new key signs
their addition and becomes the clinic's root (its fingerprint is printed, to be written down);
they also activate the shipped protocol, so that cases can open at once. A new PIN is asked
(`new_pin()`) only once everything else is known to be right.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from .. import keys, text_policy
from ..errors import BmacError, InvalidData, NotFound, NotPermitted
from ..operators import Operator, check_new_operator, check_new_pin, well_formed_id
from ..protocol import load
from ..record import Meaning, Signature
from ..registry import ADD, DEACTIVATE, PROTOCOL, RESET_PIN, ROLE, UNLOCK
from ..roles import ADMIN, ROLES, check_permitted
from ..timeutil import iso
from .recording import Clock
from .registry import Signer, append_act, load_registry
from .signing import Credentials, SignedIn, record, record_alone, sign_in

if TYPE_CHECKING:
    from ..store.database import Database
    from ..store.unit_of_work import UnitOfWork

NewPin = Callable[[], str]


@dataclass(frozen=True)
class Added:
    """The operator added, and the clinic's root key's fingerprint when they are the first."""

    operator: Operator
    root_fingerprint: str | None = None


def add_operator(
    operator_id: str,
    name: str,
    role: str,
    new_pin: NewPin,
    by: Credentials,
    clock: Clock,
    db: Database,
) -> Added:
    """Add an operator with a signing key sealed under their new PIN; `by` signs in as an
    admin, unless the database has no operator yet (the first one must be an admin)."""
    with db.read() as uow:
        first = uow.repo.registry_length() == 0 and uow.repo.operator_count() == 0
    signed = None if first else sign_in(by, clock(), db)
    now = clock()
    try:
        if signed is not None:
            check_permitted("manage_operators", signed.holder.role)
        check_new_operator(operator_id, name, role)
        if first and role != ADMIN:
            raise InvalidData(
                "the first operator of a new database must be an admin (--role admin)"
            )
        with db.read() as uow:
            _refuse_existing(uow, operator_id)
        pin = new_pin()
        check_new_pin(pin, operator_id)
        seed, public_key = keys.new_key()
        operator = Operator(
            operator_id, name.strip(), role, True, "", public_key=public_key,
            sealed_key=keys.seal(seed, pin),
        )  # fmt: skip
        with db.write() as uow:
            if signed is None and (uow.repo.operator_count() or uow.repo.registry_length()):
                raise NotPermitted(
                    "operators exist already: an admin must sign in to add one (--operator ID)"
                )
            _refuse_existing(uow, operator_id)
            if signed is not None:
                record(signed, now, uow)
                signer = signed.signer(Meaning.APPROVED)
            else:  # the root: their own new key signs their addition
                signature = Signature(
                    operator_id, operator.name, role, Meaning.APPROVED, public_key
                )
                signer = Signer(signature, seed)
            data = {"name": operator.name, "role": role, "public_key": public_key}
            append_act(uow, signer, ADD, operator_id, data, iso(now))
            uow.repo.add_operator(operator, iso(now))
            uow.repo.operator_event(
                operator_id, "added", iso(now), signed.holder.id if signed else None, data
            )
            if signed is None:
                _activate_shipped_protocol(uow, signer, now)
            uow.commit()
        return Added(operator, None if signed else keys.fingerprint(public_key))
    except BmacError:
        if signed is not None:
            record_alone(signed, now, db)
        raise


def _refuse_existing(uow: UnitOfWork, operator_id: str) -> None:
    """An id already taken, but for case, is taken (exit 5)."""
    existing = uow.repo.operator_id_like(operator_id)
    if existing is not None:
        same = "" if existing == operator_id else f" (as {existing}: ids ignore case)"
        raise InvalidData(f"operator {operator_id} exists already{same}: choose another id")


def _activate_shipped_protocol(uow: UnitOfWork, signer: Signer, now: datetime) -> None:
    protocol = load(None)
    uow.repo.protocol_id(protocol, iso(now))
    data = {"version": protocol.version, "sha256": protocol.sha256}
    append_act(uow, signer, PROTOCOL, protocol.sha256, data, iso(now))


def _target(uow: UnitOfWork, operator_id: str) -> Operator:
    target = uow.repo.operator(operator_id) if well_formed_id(operator_id) else None
    if target is None:
        raise NotFound(f"no operator {text_policy.shown(operator_id)}: see `bmac operator list`")
    return target


def _admin_act(
    operator_id: str,
    by: Credentials,
    clock: Clock,
    db: Database,
    act: Callable[[UnitOfWork, Operator, SignedIn, datetime], None],
) -> None:
    """Sign the admin in, refuse what cannot be done (no such operator 3, no admin 6), then run
    `act` in one write unit of work. The README's order: what is acted on exists, then the role."""
    signed = sign_in(by, clock(), db)
    now = clock()
    try:
        with db.read() as uow:
            _target(uow, operator_id)
        check_permitted("manage_operators", signed.holder.role)
        with db.write() as uow:
            record(signed, now, uow)
            act(uow, _target(uow, operator_id), signed, now)
            uow.commit()
    except BmacError:
        record_alone(signed, now, db)
        raise


def deactivate(operator_id: str, by: Credentials, clock: Clock, db: Database) -> None:
    """Stop an operator from signing; their history and signatures stay."""

    def act(uow: UnitOfWork, target: Operator, signed: SignedIn, now: datetime) -> None:
        if target.id == signed.holder.id:
            raise InvalidData("an admin cannot deactivate themselves: ask another admin")
        if not target.active:
            raise InvalidData(f"operator {operator_id} is already deactivated")
        append_act(uow, signed.signer(Meaning.APPROVED), DEACTIVATE, target.id, {}, iso(now))
        uow.repo.update_operator(target.id, active=False)
        uow.repo.operator_event(target.id, "deactivated", iso(now), signed.holder.id, {})

    _admin_act(operator_id, by, clock, db, act)


def set_role(operator_id: str, role: str, by: Credentials, clock: Clock, db: Database) -> None:
    """Give an operator another role (signed entries keep the role they were signed in)."""
    if role not in ROLES:
        raise InvalidData(f"--role must be one of {', '.join(ROLES)}")

    def act(uow: UnitOfWork, target: Operator, signed: SignedIn, now: datetime) -> None:
        if target.role == role:
            raise InvalidData(f"operator {operator_id} is {role} already")
        if target.id == signed.holder.id:
            raise InvalidData("an admin cannot change their own role: ask another admin")
        append_act(uow, signed.signer(Meaning.APPROVED), ROLE, target.id, {"role": role}, iso(now))
        uow.repo.update_operator(target.id, role=role)
        uow.repo.operator_event(target.id, "role", iso(now), signed.holder.id, {"role": role})

    _admin_act(operator_id, by, clock, db, act)


def reset_pin(
    operator_id: str, new_pin: NewPin, by: Credentials, clock: Clock, db: Database
) -> None:
    """Give an operator a new key under a PIN the admin gives them, which they must change at
    their next sign-in; any lock is lifted (recorded as "unlocked")."""

    def act(uow: UnitOfWork, target: Operator, signed: SignedIn, now: datetime) -> None:
        pin = new_pin()
        check_new_pin(pin, operator_id)
        seed, public_key = keys.new_key()
        data = {"public_key": public_key}
        append_act(uow, signed.signer(Meaning.APPROVED), RESET_PIN, target.id, data, iso(now))
        uow.repo.update_operator(
            target.id, pin_hash="", public_key=public_key, sealed_key=keys.seal(seed, pin),
            must_change_pin=True, failed_pins=0, locked_until=None,
        )  # fmt: skip
        uow.repo.operator_event(target.id, "pin_reset", iso(now), signed.holder.id, {})
        _unlocked(uow, target, signed, now, "PIN reset by an admin")

    _admin_act(operator_id, by, clock, db, act)


def unlock(operator_id: str, by: Credentials, clock: Clock, db: Database) -> None:
    """Lift a lock from wrong PINs before it runs out."""

    def act(uow: UnitOfWork, target: Operator, signed: SignedIn, now: datetime) -> None:
        if not target.locked_at(now):
            raise InvalidData(f"operator {operator_id} is not locked")
        append_act(uow, signed.signer(Meaning.APPROVED), UNLOCK, target.id, {}, iso(now))
        uow.repo.update_operator(target.id, failed_pins=0, locked_until=None)
        _unlocked(uow, target, signed, now, "unlocked by an admin")

    _admin_act(operator_id, by, clock, db, act)


def _unlocked(uow: UnitOfWork, target: Operator, signed: SignedIn, now: datetime, why: str) -> None:
    # Every "locked" gets its "unlocked", even when the period ran out unnoticed.
    if target.locked_until is None:
        return
    reason = why if target.locked_at(now) else "lock period passed"
    detail = {"reason": reason, "locked_until": target.locked_until}
    uow.repo.operator_event(target.id, "unlocked", iso(now), signed.holder.id, detail)


def list_operators(now: datetime, db: Database) -> list[dict[str, object]]:
    """Every operator, without their keys; `locked_until` only while the lock holds."""
    with db.read() as uow:
        registry = load_registry(uow)
        rows = uow.repo.operators()
    found = []
    for o in rows:
        holder = registry.now(o.id)
        found.append(
            {
                "id": o.id,
                "name": o.name,
                "role": o.role,
                "active": o.active,
                # A lock that ran out counts from zero again at the next attempt.
                "failed_pins": o.failed_pins if o.locked_until is None or o.locked_at(now) else 0,
                "locked_until": o.locked_until if o.locked_at(now) else None,
                "key": keys.fingerprint(o.public_key) if o.public_key else None,
                "must_change_pin": bool(holder and holder.must_change_pin),
            }
        )
    return found
