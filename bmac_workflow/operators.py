"""Operators: who they are, the PIN rules, and the lockout after wrong PINs.

A PIN unseals the operator's signing key (keys.py); an operator of a database from before keys
still has an argon2 hash of their PIN (`pin_matches`) until their first sign-in gives them one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from itertools import pairwise
from typing import Any

from . import text_policy
from .errors import InvalidData, NotPermitted
from .roles import ROLES
from .settings import MAX_LOCK_MINUTES
from .timeutil import from_iso, iso, local

_OPERATOR_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MIN_PIN_LENGTH = 6
MAX_PIN_LENGTH = 128


@dataclass(frozen=True)
class Operator:
    """A person who signs entries, as the `operators` table holds them: name, role, active and
    public key cached from the registry; the signing key sealed under their PIN; the count of
    wrong PINs. `pin_hash` is the argon2 hash of an operator from before keys ("" after)."""

    id: str
    name: str
    role: str
    active: bool
    pin_hash: str = ""
    failed_pins: int = 0
    locked_until: str | None = None
    public_key: str | None = None
    sealed_key: str | None = None
    must_change_pin: bool = False

    def locked_at(self, now: datetime) -> bool:
        """True while a lock from too many wrong PINs is in force. A lock further off than
        the longest a setting allows is no lock this bmac set: it is not honoured (an admin
        cannot be locked out for years by a row changed in the database)."""
        if self.locked_until is None:
            return False
        until = from_iso(self.locked_until)
        return now < until <= now + timedelta(minutes=MAX_LOCK_MINUTES)


def pin_hasher() -> Any:
    """The argon2 PasswordHasher every PIN is hashed and checked with."""
    # Imported lazily: argon2 is only needed by commands that sign.
    from argon2 import PasswordHasher, Type

    # argon2id with the library's RFC 9106 low-memory defaults (t=3, m=64 MiB, p=4), above
    # OWASP's floor; the type is spelled out so that no library default can change it.
    return PasswordHasher(type=Type.ID)


@lru_cache(maxsize=1)
def _hasher() -> Any:
    return pin_hasher()


def check_new_pin(pin: str, operator_id: str) -> None:
    """Refuse (exit 5) a new PIN that is too short, a guessable pattern, or the operator's id.

    An offline search of six digits costs a million argon2 runs: days on one core at the costs
    keys.py uses (docs/operators.md); the patterns below are the first a guesser tries.
    """
    if not MIN_PIN_LENGTH <= len(pin) <= MAX_PIN_LENGTH or any(c.isspace() for c in pin):
        raise InvalidData(
            f"a PIN needs {MIN_PIN_LENGTH} to {MAX_PIN_LENGTH} characters and no spaces: "
            "choose another"
        )
    if len(set(pin)) == 1:
        raise InvalidData("a PIN may not be one character repeated (like 000000): choose another")
    if _is_run(pin):
        raise InvalidData(
            "a PIN may not be an ascending or descending run (like 123456 or 987654): choose "
            "another"
        )
    if pin.casefold() == operator_id.casefold():
        raise InvalidData("a PIN may not be the operator's id: choose another")


def _is_run(pin: str) -> bool:
    """True for characters that each follow the one before by one, all up or all down (digits
    wrap around: 890123)."""
    steps = set()
    for a, b in pairwise(pin):
        step = ord(b) - ord(a)
        if a.isdigit() and b.isdigit():
            step = (int(b) - int(a)) % 10
            step = -1 if step == 9 else step
        steps.add(step)
    return steps in ({1}, {-1})


def pin_matches(pin_hash: str, pin: str) -> bool:
    """True when `pin` is the one hashed in `pin_hash`."""
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return bool(_hasher().verify(pin_hash, pin))
    except (VerificationError, InvalidHashError):
        return False


def well_formed_id(operator_id: str) -> bool:
    """Whether `operator_id` could be an operator's id (one that cannot is nobody's: it is not
    looked up, so that no database sees a NUL byte or 10,000 characters)."""
    return _OPERATOR_ID.fullmatch(operator_id) is not None


def check_new_operator(operator_id: str, name: str, role: str) -> None:
    """Refuse a malformed operator id, empty name or unknown role."""
    if not _OPERATOR_ID.fullmatch(operator_id):
        raise InvalidData(
            f"operator id {text_policy.shown(operator_id)} must be 1-64 letters, digits, '.', "
            "'_' or '-'"
        )
    if not name.strip():
        raise InvalidData("--name must be the operator's printed name")
    text_policy.check(name, "--name", text_policy.NAME_FIELD)
    if role not in ROLES:
        raise InvalidData(f"--role must be one of {', '.join(ROLES)}")


@dataclass(frozen=True)
class SignInOutcome:
    """What a PIN attempt changes on the operator, and whether it succeeded.

    `events` are the (action, detail) pairs for the append-only operator history: "locked" at
    the wrong PIN that reaches the limit, "unlocked" at the first attempt after the lock ran out
    (whether that PIN is right or wrong). Details never hold a PIN.
    """

    ok: bool
    failed_pins: int
    locked_until: str | None
    events: tuple[tuple[str, dict[str, Any]], ...]


@dataclass(frozen=True)
class SignInLimits:
    """How many wrong PINs in a row lock an operator, and for how long."""

    max_failed_pins: int
    lock_minutes: float


def attempt(operator: Operator, pin_ok: bool, now: datetime, limits: SignInLimits) -> SignInOutcome:
    """Apply the lockout rule to a PIN attempt whose check gave `pin_ok` (the caller does not
    check a PIN while the operator is locked); the caller stores the outcome and raises."""
    max_failed, lock_minutes = limits.max_failed_pins, limits.lock_minutes
    events: list[tuple[str, dict[str, Any]]] = []
    failed, locked_until = operator.failed_pins, operator.locked_until
    if operator.locked_at(now):
        # While locked, even the right PIN is refused, and attempts do not extend the lock.
        return SignInOutcome(False, failed, locked_until, ())
    if locked_until is not None:
        events.append(("unlocked", {"reason": "lock period passed", "locked_until": locked_until}))
        failed, locked_until = 0, None
    if pin_ok:
        return SignInOutcome(True, 0, None, tuple(events))
    failed += 1
    if failed >= max_failed:
        locked_until = iso(now + timedelta(minutes=lock_minutes))
        events.append(("locked", {"failed_pins": failed, "locked_until": locked_until}))
    return SignInOutcome(False, failed, locked_until, tuple(events))


def refusal(operator: Operator, outcome: SignInOutcome, max_failed: int) -> NotPermitted:
    """The error a failed sign-in gives, without ever echoing the PIN."""
    if outcome.locked_until is not None:
        return NotPermitted(
            f"operator {operator.id} is locked after {max_failed} wrong PINs until "
            f"{local(outcome.locked_until)}: wait, or ask an admin to run `bmac operator unlock "
            f"{operator.id}`"
        )
    left = max_failed - outcome.failed_pins
    tries = "try" if left == 1 else "tries"
    return NotPermitted(f"wrong PIN for operator {operator.id} ({left} {tries} left before a lock)")
