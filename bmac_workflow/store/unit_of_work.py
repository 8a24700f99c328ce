"""One transaction per use case: it rolls back unless `commit()` is called."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from . import connections
from .engine import writer
from .failures import conflict_of
from .repository import Repository


class UnitOfWork:
    """A connection, a session on it and the repository; `write=True` takes the write lock at
    BEGIN on SQLite.

    The transaction belongs to the connection, not to the session: the step-commit path runs
    its statements on the connection alone, and SQLAlchemy's session bookkeeping (a quarter of
    a step's cost, benchmarks/run.py) is paid only by the use cases that use the session: it is
    made on first use. The session joins the same transaction, so both see and commit the same
    work.
    """

    def __init__(self, engine: Engine, write: bool = False) -> None:
        self.engine = engine
        self.write = write
        self._session: Session | None = None

    def __enter__(self) -> UnitOfWork:
        self._bind = writer(self.engine) if self.write else self.engine
        self.connection = connections.take(self._bind)
        self._session = None
        self.repo = Repository(self.connection, self._get_session)
        return self

    @property
    def session(self) -> Session:
        """The ORM session on this unit of work's connection and transaction."""
        return self._get_session()

    def _get_session(self) -> Session:
        if self._session is None:
            self._session = Session(
                self.connection,
                expire_on_commit=False,
                autoflush=False,
                join_transaction_mode="control_fully",
            )
        return self._session

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        clean = False
        try:
            if self._session is not None:
                self._session.close()
                self._session = None
            if self.connection.in_transaction():
                self.connection.rollback()
            clean = exc is None
        finally:
            connections.give_back(self._bind, self.connection, clean)
        conflict = conflict_of(exc)
        if conflict is not None:
            raise conflict from None

    def commit(self) -> None:
        """Make the work durable (on SQLite: fsync of the WAL, synchronous=FULL)."""
        if self._session is not None and self._session.in_transaction():
            self._session.commit()
        if self.connection.in_transaction():
            self.connection.commit()
