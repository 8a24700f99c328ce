"""The SQLite connection a process keeps between its units of work.

SQLAlchemy's pool already keeps the driver's connection open; what a unit of work still paid was
the checkout around it: a new `Connection`, the pool's queue, its reset on return, each run cold
after the previous step's fsync. Measured with benchmarks/run.py that churn cost a fifth of a
step. So a unit of work on SQLite hands its connection back here, idle (its transaction ended,
no session on it), and the next one on the same engine, thread and process takes it.

A connection is kept only after a clean exit, never lent twice at once (a unit of work opened
inside another gets a connection of its own from the pool), and never across a fork.
`Engine.dispose()` closes the calling thread's kept connections too (store/engine.py listens),
so that a disposed engine leaves no handle on its file (a backup switches its copy's journal
mode right after). PostgreSQL engines are not kept: a server counts its clients.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from sqlalchemy import Connection, Engine

_SLOT = "bmac_kept_connection"
# This process's pid, kept up to date across forks (os.getpid() is a system call, and a step
# takes and gives back a connection twice).
_pid = os.getpid()


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)


class _Kept(threading.local):
    """One idle connection per thread, its driver's connection, and the process that opened
    it."""

    connection: Connection | None = None
    driver: Any = None
    pid: int = 0


def _kept(bind: Engine) -> _Kept | None:
    if bind.dialect.name != "sqlite":
        return None
    kept: _Kept | None = bind.__dict__.get(_SLOT)
    if kept is None:
        kept = bind.__dict__[_SLOT] = _Kept()
    return kept


def take(bind: Engine) -> tuple[Connection, Any]:
    """An idle connection of `bind` and its driver's connection: the kept ones if this thread
    has them, else new ones."""
    kept = _kept(bind)
    if kept is None or kept.connection is None or kept.pid != _pid:
        # (Inherited through a fork: the parent's SQLite handle must never be used here, nor
        # be finalised into this process's pool. It stays where it is, untouched.)
        return _new(bind)
    connection, kept.connection = kept.connection, None
    if connection.closed:
        return _new(bind)
    # The driver's connection as it was given back: SQLAlchemy's chain of properties to it
    # costs more than the lookup, at every unit of work.
    return connection, kept.driver


def _new(bind: Engine) -> tuple[Connection, Any]:
    connection = bind.connect()
    return connection, connection.connection.driver_connection


def give_back(bind: Engine, connection: Connection, clean: bool, driver: Any) -> None:
    """Keep `connection` (and its driver's `driver`) for the next unit of work if it ended
    cleanly and idle (the unit of work ended its driver's transaction), else close it."""
    kept = _kept(bind)
    if (
        kept is None
        or not clean
        or kept.connection is not None
        or connection.closed
        or connection.invalidated  # its driver's connection is gone: never kept with it
        or connection.in_transaction()
    ):
        connection.close()
        return
    kept.connection, kept.driver, kept.pid = connection, driver, _pid


def release(bind: Engine) -> None:
    """Close this thread's kept connection of `bind` now, the driver's handle with it."""
    kept: _Kept | None = bind.__dict__.get(_SLOT)
    if kept is None or kept.connection is None or kept.pid != _pid:
        return
    connection, kept.connection, kept.driver = kept.connection, None, None
    # Its pool may already be disposed: invalidate closes the driver's connection at once
    # rather than leave it to be collected.
    connection.invalidate()
    connection.close()
