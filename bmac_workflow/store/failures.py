"""What a failed statement means to the operator: the database errors that are a conflict.

Shared by the unit of work and the case lookup, so that a busy database or a lost race reads
the same (exit 7, try again) whichever way a command reached it.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError, OperationalError

from ..errors import Conflict

# SQLSTATEs of PostgreSQL's concurrency failures: serialization, deadlock, lock not available.
_RETRYABLE = {"40001", "40P01", "55P03"}


def conflict_of(exc: BaseException | None) -> Conflict | None:
    """The Conflict to raise instead of `exc`, or None when `exc` is not a conflict."""
    if isinstance(exc, OperationalError) and _is_busy(exc):
        return Conflict("the database stayed busy: another workstation is writing; try again")
    if isinstance(exc, IntegrityError) and _is_duplicate(exc):
        # The last guard of a race the services did not foresee: two workstations wrote the
        # same key at the same moment. Nothing was written; a retry sees the winner's row.
        return Conflict(
            "another workstation wrote the same record at the same moment; nothing was "
            "written: check and try again"
        )
    return None


def _is_busy(exc: OperationalError) -> bool:
    if getattr(exc.orig, "sqlstate", None) in _RETRYABLE:
        return True
    text = str(exc.orig).lower()
    return "locked" in text or "busy" in text or "could not serialize" in text


def _is_duplicate(exc: IntegrityError) -> bool:
    if getattr(exc.orig, "sqlstate", None) == "23505":
        return True
    return "unique constraint failed" in str(exc.orig).lower()
