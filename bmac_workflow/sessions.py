"""Reading sessions, pure: the secret a session is known by, its token form, and when it ends.

A session lets an operator read without typing the PIN at each command; it signs nothing (an
operator's signing key is unsealed by the PIN alone, keys.py). The database keeps only the
SHA-256 of the session's random secret: its rows do not let anyone make a session file, a
cookie or a token. What a session's holder gets is what its secret gets: reading, as that
operator, until it is idle for its idle minutes (the site setting when it began), it reaches its
end (a token), or its operator logs out, is deactivated or locked. docs/web.md has the threat
model.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

# A session's kind: the command line's file, the web's cookie, an API token.
CLI, WEB, TOKEN = "cli", "web", "token"
KINDS = (CLI, WEB, TOKEN)
# How long a token made by `bmac login --token` lasts, used or not.
TOKEN_HOURS = 8
_PREFIX = "bmac1"


@dataclass(frozen=True)
class SessionKey:
    """What the holder of a session presents: its id and its secret."""

    session_id: str
    secret: str

    def token(self) -> str:
        """The key as one string (the cookie, the bearer token, the file's `key`)."""
        return f"{_PREFIX}.{self.session_id}.{self.secret}"

    @classmethod
    def parse(cls, text: str) -> SessionKey | None:
        """The key of a token, or None when it is not shaped like one."""
        parts = text.strip().split(".")
        if len(parts) != 3 or parts[0] != _PREFIX or not all(parts[1:]):
            return None
        if not all(c.isalnum() or c in "-_" for c in parts[1] + parts[2]):
            return None
        return cls(parts[1], parts[2])


def new_key() -> SessionKey:
    """A fresh session: a random id and 256 random bits of secret."""
    return SessionKey(secrets.token_hex(12), secrets.token_urlsafe(32))


def secret_hash(secret: str) -> str:
    """What the database keeps of a secret."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    """True when `secret` is the one whose hash is stored (in constant time)."""
    return hmac.compare_digest(secret_hash(secret), stored_hash)


@dataclass(frozen=True)
class Session:
    """A session as stored: whose, what kind, its idle minutes, when it was last used, when it
    ends at the latest, and whether it was ended (logout)."""

    session_id: str
    operator_id: str
    kind: str
    secret_hash: str
    idle_minutes: int
    last_seen: datetime
    expires: datetime | None
    ended: bool

    def ended_why(self, now: datetime) -> str | None:
        """Why the session no longer holds at `now`, or None while it does."""
        if self.ended:
            return "it was ended (logout)"
        if self.expires is not None and now >= self.expires:
            return "the token expired"
        if now - self.last_seen > timedelta(minutes=self.idle_minutes):
            return f"it was idle for more than {self.idle_minutes} minutes"
        return None
