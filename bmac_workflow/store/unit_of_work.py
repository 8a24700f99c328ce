"""One transaction per use case: it rolls back unless `commit()` is called."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from .engine import writer
from .failures import conflict_of
from .repository import Repository


class UnitOfWork:
    """A connection, a session on it and the repository; `write=True` takes the write lock at
    BEGIN on SQLite.

    The transaction belongs to the connection, not to the session: the step-commit path runs
    its statements on the connection alone, and SQLAlchemy's session bookkeeping (a quarter of
    a step's cost, benchmarks/run.py) is paid only by the use cases that use the session. The
    session joins the same transaction, so both see and commit the same work.
    """

    def __init__(self, engine: Engine, write: bool = False) -> None:
        self.engine = engine
        self.write = write

    def __enter__(self) -> UnitOfWork:
        bind = writer(self.engine) if self.write else self.engine
        self.connection = bind.connect()
        self.session = Session(
            self.connection,
            expire_on_commit=False,
            autoflush=False,
            join_transaction_mode="control_fully",
        )
        self.repo = Repository(self.session, self.connection)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.session.close()
            if self.connection.in_transaction():
                self.connection.rollback()
        finally:
            self.connection.close()
        conflict = conflict_of(exc)
        if conflict is not None:
            raise conflict from None

    def commit(self) -> None:
        """Make the work durable (on SQLite: fsync of the WAL, synchronous=FULL)."""
        if self.session.in_transaction():
            self.session.commit()
        if self.connection.in_transaction():
            self.connection.commit()
