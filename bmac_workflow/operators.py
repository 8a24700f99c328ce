"""Operators and their electronic signatures: PIN hashing (argon2id) and sign-in rules."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from .errors import InvalidData, NotPermitted
from .roles import ROLES
from .timeutil import from_iso, iso, local

_OPERATOR_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MIN_PIN_LENGTH = 4
MAX_PIN_LENGTH = 128


@dataclass(frozen=True)
class Operator:
    """A person who signs entries."""

    id: str
    name: str
    role: str
    active: bool
    pin_hash: str
    failed_pins: int = 0
    locked_until: str | None = None

    def locked_at(self, now: datetime) -> bool:
        """True while a lock from too many wrong PINs is in force."""
        return self.locked_until is not None and from_iso(self.locked_until) > now


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


def hash_pin(pin: str) -> str:
    """An argon2id hash of a new PIN, after checking its shape (the PIN itself is never kept)."""
    if not MIN_PIN_LENGTH <= len(pin) <= MAX_PIN_LENGTH or any(c.isspace() for c in pin):
        raise InvalidData(
            f"a PIN needs {MIN_PIN_LENGTH} to {MAX_PIN_LENGTH} characters and no spaces"
        )
    return str(_hasher().hash(pin))


def pin_matches(pin_hash: str, pin: str) -> bool:
    """True when `pin` is the one hashed in `pin_hash`."""
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return bool(_hasher().verify(pin_hash, pin))
    except (VerificationError, InvalidHashError):
        return False


def hash_rehashed(pin_hash: str, pin: str) -> str | None:
    """A new hash of a just-verified PIN if `pin_hash` used other costs than today's, else None."""
    if not _hasher().check_needs_rehash(pin_hash):
        return None
    return str(_hasher().hash(pin))


def check_new_operator(operator_id: str, name: str, role: str) -> None:
    """Refuse a malformed operator id, empty name or unknown role."""
    if not _OPERATOR_ID.fullmatch(operator_id):
        raise InvalidData(
            f"operator id {operator_id!r} must be 1-64 letters, digits, '.', '_' or '-'"
        )
    if not name.strip():
        raise InvalidData("--name must be the operator's printed name")
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
            f"{local(outcome.locked_until)}: wait, or ask an admin to `bmac operator reset-pin`"
        )
    left = max_failed - outcome.failed_pins
    tries = "try" if left == 1 else "tries"
    return NotPermitted(f"wrong PIN for operator {operator.id} ({left} {tries} left before a lock)")
