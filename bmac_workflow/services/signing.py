"""Sign-in: an operator's PIN unseals their signing key, and only then can they sign.

The PIN is checked once per command, on a read (argon2 costs a fraction of a second and must
not hold a write lock): one argon2 run both checks it and unseals the key (keys.py). Who the
operator is, their role and their key come from the registry, verified first; the `operators`
table is a cache that must agree with it. A wrong PIN is recorded at once in a unit of work of
its own and the command is refused; what a right one changes (the count of wrong PINs back to
zero, a lock that ran out, a first key or a new PIN) is written by the command's own unit of
work (`record`), or on its own if the command is refused later.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .. import keys, text_policy
from ..errors import BmacError, NotPermitted
from ..operators import (
    Operator,
    SignInLimits,
    attempt,
    check_new_pin,
    pin_matches,
    refusal,
    well_formed_id,
)
from ..record import Meaning, Signature
from ..registry import KEY, PIN_CHANGED, Holder, Registry
from ..timeutil import iso
from .registry import Signer, append_act, limits, load_registry

if TYPE_CHECKING:
    from ..store.database import Database
    from ..store.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Credentials:
    """Who claims to sign, and how to get their PIN: `pin()` is called only when the PIN is
    needed (a prompt happens then) and raises NotPermitted when there is no way to get one;
    `new_pin()` likewise, when the operator must choose a new PIN."""

    operator_id: str | None
    pin: Callable[[], str | None]
    new_pin: Callable[[], str] | None = None
    # Where the id was given, for the message when there is no such operator.
    option: str = "--operator or BMAC_OPERATOR"


@dataclass(frozen=True)
class SignedIn:
    """An operator whose PIN unsealed their key, as the registry knows them, and what the
    sign-in changes on their row and in the registry (their first key, a new PIN)."""

    operator: Operator
    holder: Holder
    registry: Registry = field(repr=False)
    seed: bytes = field(repr=False)
    changes: dict[str, Any] = field(default_factory=dict)
    events: tuple[tuple[str, dict[str, Any]], ...] = ()
    acts: tuple[tuple[str, dict[str, Any]], ...] = ()

    def signer(self, meaning: str) -> Signer:
        """The operator signing with `meaning`: printed name, role and key the registry's."""
        holder = self.holder
        signature = Signature(holder.id, holder.name, holder.role, meaning, holder.key)
        return Signer(signature, self.seed, self._signing_key)

    @cached_property
    def _signing_key(self) -> bytes:
        # Made once per sign-in: an entry is signed by its signer and often co-signed.
        return keys.signing_key(self.seed)


def sign_in(credentials: Credentials, now: datetime, db: Database) -> SignedIn:
    """Check the operator's PIN and unseal their key, or refuse (exit 6) after recording the
    wrong PIN. An unknown operator is a failed sign-in (6), not "not found" (3): sign-in comes
    before anything else in the README's order of checks."""
    operator_id = credentials.operator_id
    if not operator_id:
        raise NotPermitted(
            "this command needs an operator: give --operator ID or set BMAC_OPERATOR"
        )
    pin = credentials.pin()
    if pin is None:
        raise NotPermitted(
            f"this command needs the PIN of operator {_named(operator_id)}: run it in "
            "a terminal to be asked, or set BMAC_PIN"
        )
    with db.read() as uow:
        registry = load_registry(uow)
        operator, holder = _known(uow, operator_id, registry, credentials.option)
    rules = limits(registry)
    seed = _unsealed(operator, holder, pin, now) if not operator.locked_at(now) else None
    if seed is None:
        _record_failure(operator_id, rules, now, db)
    changes: dict[str, Any] = {}
    acts: list[tuple[str, dict[str, Any]]] = []
    assert seed is not None
    new_pin = None
    if holder.must_change_pin or _weak(pin, operator_id):
        new_pin = _new_pin(credentials)
        changes["must_change_pin"] = False
        if holder.must_change_pin:
            acts.append((PIN_CHANGED, {}))
            holder = replace(holder, must_change_pin=False)
    if holder.key is None:  # from before keys: the PIN was right, the operator takes a key
        holder = replace(holder, key=keys.public_key_of(seed))
        acts.insert(0, (KEY, {"public_key": holder.key}))
        changes.update(pin_hash="", public_key=holder.key)
    if new_pin is not None or "public_key" in changes:
        changes["sealed_key"] = keys.seal(seed, new_pin or pin)
    outcome = attempt(operator, True, now, rules)
    if (outcome.failed_pins, outcome.locked_until) != (operator.failed_pins, operator.locked_until):
        changes.update(failed_pins=0, locked_until=None)
    return SignedIn(operator, holder, registry, seed, changes, outcome.events, tuple(acts))


def _named(operator_id: str) -> str:
    """An operator id as a message names it: as typed, or escaped and cut if it is none."""
    return operator_id if well_formed_id(operator_id) else text_policy.shown(operator_id)


def _known(
    uow: UnitOfWork, operator_id: str, registry: Registry, option: str
) -> tuple[Operator, Holder]:
    """The operator's row and the registry's record of them, which must agree."""
    known = well_formed_id(operator_id)
    operator = uow.repo.operator(operator_id) if known else None
    holder = registry.now(operator_id)
    if operator is None or holder is None:
        like = uow.repo.operator_id_like(operator_id) if known and operator is None else None
        hint = f"it is spelled {like}" if like else "`bmac operator list` shows who exists"
        raise NotPermitted(
            f"sign-in failed: there is no operator {text_policy.shown(operator_id)}; check "
            f"{option} ({hint})"
        )
    if not holder.active:
        raise NotPermitted(
            f"operator {operator_id} is deactivated and can no longer sign: "
            "ask an admin (`bmac operator list`)"
        )
    cached = (operator.name, operator.role, operator.active, operator.public_key)
    if cached != (holder.name, holder.role, holder.active, holder.key):
        raise NotPermitted(
            f"the operators table disagrees with the signed registry about {operator_id}: "
            "nobody signs as them until an auditor runs `bmac audit verify`"
        )
    return operator, holder


def _unsealed(operator: Operator, holder: Holder, pin: str, now: datetime) -> bytes | None:
    """The operator's signing key if `pin` is theirs, else None (one argon2 run)."""
    if operator.sealed_key:
        seed = keys.unseal(operator.sealed_key, pin)
        if seed is not None and keys.public_key_of(seed) != holder.key:
            raise NotPermitted(
                f"the key sealed for {operator.id} is not the one the registry holds for them: "
                "an admin must reset their PIN (`bmac operator reset-pin`)"
            )
        return seed
    if operator.pin_hash and holder.key is None and pin_matches(operator.pin_hash, pin):
        return keys.new_key()[0]
    if not operator.pin_hash:
        raise NotPermitted(
            f"operator {operator.id} has no key to sign with: ask an admin to reset their PIN"
        )
    return None


def _weak(pin: str, operator_id: str) -> bool:
    try:
        check_new_pin(pin, operator_id)
    except BmacError:
        return True
    return False


def _new_pin(credentials: Credentials) -> str:
    """The new PIN an operator must choose (after an admin's reset, or a PIN the rules no
    longer allow), checked against the PIN rules."""
    operator_id = credentials.operator_id or ""
    needed = NotPermitted(
        f"operator {operator_id} must choose a new PIN (an admin reset it, or it no longer "
        "meets the PIN rules): run the command in a terminal to be asked, or set BMAC_NEW_PIN"
    )
    if credentials.new_pin is None:
        raise needed
    try:
        new = credentials.new_pin()
    except NotPermitted:
        raise needed from None
    check_new_pin(new, operator_id)
    return new


def _record_failure(operator_id: str, rules: SignInLimits, now: datetime, db: Database) -> None:
    """Count the wrong PIN (or the attempt while locked) on the operator's locked row, commit,
    and refuse: wrong PINs typed at once on several workstations all count."""
    with db.write() as uow:
        operator = uow.repo.operator(operator_id, lock=True)
        assert operator is not None
        outcome = attempt(operator, False, now, rules)
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
    raise refusal(operator, outcome, rules.max_failed_pins)


def record(signed: SignedIn, now: datetime, uow: UnitOfWork, waited: bool = False) -> int:
    """Write what the sign-in changes, in the command's unit of work; returns the registry's
    length once its acts are appended (0 when it appended none).

    When it changes something, or the command `waited` (for a second person's PIN) since the
    sign-in, first check nobody deactivated them or reset their PIN meanwhile: otherwise the
    sign-in's read, a moment ago, stands.
    """
    if not (signed.changes or signed.events or signed.acts or waited):
        return 0
    current = uow.repo.operator(signed.operator.id, lock=True)
    if current is None or not current.active or current.sealed_key != signed.operator.sealed_key:
        raise NotPermitted(
            f"operator {signed.operator.id} was deactivated or given a new PIN while this command "
            "ran: sign in again"
        )
    position = 0
    for action, data in signed.acts:
        signer = signed.signer(Meaning.APPROVED)
        position = append_act(uow, signer, action, signed.holder.id, data, iso(now)).seq
    if signed.changes:
        uow.repo.update_operator(current.id, **signed.changes)
    for action, detail in signed.events:
        uow.repo.operator_event(current.id, action, iso(now), None, detail)
    return position


def record_alone(signed: SignedIn, now: datetime, db: Database) -> None:
    """Write what a sign-in changes when the command it was for was refused."""
    if not (signed.changes or signed.events or signed.acts):
        return
    try:
        with db.write() as uow:
            record(signed, now, uow)
            uow.commit()
    except BmacError:
        pass  # deactivated or reset meanwhile: the next sign-in will find out


def check_pin(credentials: Credentials, now: datetime, db: Database) -> Holder:
    """Sign in to read: the operator's PIN checked (one argon2 run), a wrong one recorded like
    any failed sign-in; unlike `sign_in`, nothing of the operator changes (no first key, no new
    PIN: the PIN rules bite at their next signature), but a PIN an admin reset must be changed
    first (by signing in to write)."""
    operator_id = credentials.operator_id or ""
    pin = credentials.pin()
    if pin is None:
        raise NotPermitted(f"reading as {operator_id} needs their PIN: set BMAC_PIN")
    with db.read() as uow:
        registry = load_registry(uow)
        operator, holder = _known(uow, operator_id, registry, credentials.option)
    rules = limits(registry)
    if operator.locked_at(now) or _unsealed(operator, holder, pin, now) is None:
        _record_failure(operator_id, rules, now, db)
    if holder.must_change_pin:
        raise NotPermitted(
            f"operator {operator_id} must choose a new PIN before reading: sign in to a writing "
            "command in a terminal, or set BMAC_NEW_PIN"
        )
    if operator.failed_pins or operator.locked_until:
        with db.write() as uow:
            uow.repo.update_operator(operator_id, failed_pins=0, locked_until=None)
            uow.commit()
    return holder
