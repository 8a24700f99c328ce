"""Sign-in for reading: `bmac login` / `logout`, the web's sign-in, API tokens, and who reads.

A reading command signs in with a session (the file `bmac login` wrote, the web's cookie, a
token) or with the operator's PIN (BMAC_PIN, as scripts do); without either it is refused
(exit 6) with the way forward. Opening a session checks the PIN as any sign-in does (a wrong
one counts toward the lock, sign-in.py); the session signs nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ..errors import NotPermitted
from ..sessions import CLI, TOKEN, TOKEN_HOURS, WEB, Session, SessionKey, new_key, secret_hash
from ..sessions import secret_matches as _matches
from ..settings import in_force
from ..timeutil import iso
from .signing import Credentials, check_pin, record_alone, sign_in

if TYPE_CHECKING:
    from ..store.database import Database
    from ..store.unit_of_work import UnitOfWork

# Which kind of session each channel takes: the command line its file, the web its cookie, the
# API the cookie or a token.
_TAKES = {"cli": (CLI,), "web": (WEB,), "api": (WEB, TOKEN)}
_WAY_FORWARD = {
    "cli": "sign in with `bmac login` (a session for reading), or set BMAC_OPERATOR and "
    "BMAC_PIN in a script",
    "web": "sign in at /login",
    "api": "sign in at /login, or send `Authorization: Bearer TOKEN` with a token from "
    "`bmac login --token`",
}


@dataclass(frozen=True)
class Reader:
    """How a read signs in: through which channel, with a session's key or with a PIN;
    `touch` false for a read that is not the operator's doing (the board refreshing itself),
    which does not keep the session alive."""

    channel: str = "cli"
    key: SessionKey | None = None
    credentials: Credentials | None = None
    touch: bool = True


@dataclass(frozen=True)
class Viewer:
    """An operator signed in to read, and the session they read in (None: by PIN)."""

    operator_id: str
    session_id: str | None = None


@dataclass(frozen=True)
class Opened:
    """A session just opened: its key (shown once, never stored) and its limits."""

    key: SessionKey
    operator_id: str
    kind: str
    idle_minutes: int
    expires: datetime | None


def login(credentials: Credentials, kind: str, now: datetime, db: Database) -> Opened:
    """Check the operator's PIN and open a session of `kind` (cli, web or token)."""
    signed = sign_in(credentials, now, db)
    record_alone(signed, now, db)
    idle = in_force(signed.registry.settings)["session_idle_minutes"]
    key = new_key()
    expires = now + timedelta(hours=TOKEN_HOURS) if kind == TOKEN else None
    session = Session(
        key.session_id, signed.holder.id, kind, secret_hash(key.secret), idle, now, expires, False
    )
    with db.write() as uow:
        uow.repo.add_session(session, iso(now))
        uow.commit()
    return Opened(key, signed.holder.id, kind, idle, expires)


def logout(key: SessionKey | None, now: datetime, db: Database) -> bool:
    """End the session of `key`; False when there was none to end."""
    if key is None:
        return False
    with db.write() as uow:
        found = uow.repo.session(key.session_id)
        if found is None or not _matches(key.secret, found.secret_hash) or found.ended:
            return False
        uow.repo.end_session(key.session_id, iso(now))
        uow.commit()
    return True


def viewer(reader: Reader, now: datetime, db: Database) -> Viewer:
    """Who reads: the operator of the reader's session, or of its PIN; else refused (6)."""
    if reader.key is not None:
        with db.read() as uow:
            return viewer_in(uow, reader, now)
    credentials = reader.credentials
    if credentials is not None and credentials.operator_id:
        return Viewer(check_pin(credentials, now, db).id)
    raise NotPermitted(f"reading needs a sign-in: {_WAY_FORWARD[reader.channel]}")


@contextmanager
def signed_read(reader: Reader, now: datetime, db: Database) -> Iterator[tuple[Viewer, UnitOfWork]]:
    """Who reads, and a reading unit of work to read in: a session is checked inside that unit
    of work (one transaction for the check and the read); a PIN is checked first, alone."""
    if reader.key is None:
        who = viewer(reader, now, db)
        with db.read() as uow:
            yield who, uow
        return
    with db.read() as uow:
        yield viewer_in(uow, reader, now), uow


def viewer_in(uow: UnitOfWork, reader: Reader, now: datetime) -> Viewer:
    """The operator of the reader's session, checked in `uow` (refused, 6, when it does not
    hold)."""
    way = _WAY_FORWARD[reader.channel]
    if reader.key is None:
        raise NotPermitted(f"reading needs a sign-in: {way}")
    key = reader.key
    found = uow.repo.session(key.session_id)
    standing = None if found is None else uow.repo.standing(found.operator_id)
    if found is None or not _matches(key.secret, found.secret_hash):
        raise NotPermitted(f"there is no such reading session: {way}")
    if found.kind not in _TAKES.get(reader.channel, ()):
        raise NotPermitted(f"a {found.kind} session cannot be used here: {way}")
    why = found.ended_why(now)
    if why is not None:
        raise NotPermitted(f"your reading session has ended ({why}): {way}")
    locked = standing is not None and _locked(standing[1], now)
    if standing is None or not standing[0] or locked:
        raise NotPermitted(
            f"operator {found.operator_id} is deactivated or locked: their sessions no longer hold"
        )
    return Viewer(found.operator_id, found.session_id)


def _locked(locked_until: str | None, now: datetime) -> bool:
    """The lock rule of operators.py (a lock beyond the longest setting is not honoured)."""
    from ..operators import Operator

    return Operator("", "", "", True, locked_until=locked_until).locked_at(now)
