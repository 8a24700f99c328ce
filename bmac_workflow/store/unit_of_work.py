"""One transaction per use case: it rolls back unless `commit()` is called."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from ..errors import Conflict
from .engine import writer
from .repository import Repository


class UnitOfWork:
    """A session and its repository; `write=True` takes the write lock at BEGIN on SQLite."""

    def __init__(self, engine: Engine, write: bool = False) -> None:
        self.engine = engine
        self.write = write

    def __enter__(self) -> UnitOfWork:
        bind = writer(self.engine) if self.write else self.engine
        self.session = Session(bind, expire_on_commit=False, autoflush=False)
        self.repo = Repository(self.session)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.session.rollback()
        self.session.close()
        if isinstance(exc, OperationalError) and _is_busy(exc):
            raise Conflict(
                "the database stayed busy: another workstation is writing; try again"
            ) from None

    def commit(self) -> None:
        """Make the work durable (on SQLite: fsync of the WAL, synchronous=FULL)."""
        self.session.commit()


def _is_busy(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return "locked" in text or "busy" in text or "could not serialize" in text
