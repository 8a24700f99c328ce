"""The database a command works on: its engine, and units of work to read or write it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from .engine import make_engine, read_only_url
from .migrate import ensure_current
from .unit_of_work import UnitOfWork


class Database:
    """One database URL's engine; `read()` and `write()` give a new unit of work each."""

    def __init__(self, engine: Engine, read_only: bool = False) -> None:
        self.engine = engine
        self.read_only = read_only  # opened so that nothing can be written

    @classmethod
    def open(
        cls, url: str, check_schema: bool = True, create: bool = True, read_only: bool = False
    ) -> Database:
        """The database at `url`; a brand-new one is created (unless `create` is false: then a
        missing or empty one is refused with what to run), one at another revision refused.
        `read_only` opens it so that nothing can be written (a reading command)."""
        engine = make_engine(read_only_url(url) if read_only else url, create=create)
        if check_schema:
            try:
                ensure_current(engine, create)
            except BaseException:
                engine.dispose()
                raise
        return cls(engine, read_only)

    @classmethod
    def open_existing(cls, url: str, timeout: int = 2) -> Database | None:
        """An existing database, opened without creating or migrating anything, that gives up
        after `timeout` seconds (shell completion); None when a SQLite file does not exist."""
        from pathlib import Path

        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            path = parsed.database
            if not path or path == ":memory:" or not Path(path).expanduser().is_file():
                return None
            return cls(make_engine(read_only_url(url), connect_args={"timeout": timeout}))
        return cls(make_engine(url, connect_args={"connect_timeout": timeout}))

    @property
    def url(self) -> str:
        """The URL, password included (worker processes reconnect with it; never print it)."""
        return self.engine.url.render_as_string(hide_password=False)

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.engine.dialect.name

    def in_memory(self) -> bool:
        """True for a SQLite database that lives only in this process."""
        url = self.engine.url
        return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")

    def read(self) -> UnitOfWork:
        """A unit of work that reads (it may write only what it commits explicitly)."""
        return UnitOfWork(self.engine, write=False)

    def glance(self) -> UnitOfWork:
        """A unit of work for a read whose statements need not see one snapshot (one case and
        its protocol, which never changes): on PostgreSQL it costs no transaction."""
        return UnitOfWork(self.engine, write=False, glance=True)

    def write(self) -> UnitOfWork:
        """A unit of work that writes: on SQLite it holds the write lock from its start."""
        return UnitOfWork(self.engine, write=True)

    def server_time(self) -> datetime | None:
        """The PostgreSQL server's clock (UTC); None on SQLite, which has no server."""
        if self.dialect != "postgresql":
            return None
        with self.glance() as uow:
            return uow.repo.server_time()

    def dispose(self) -> None:
        """Close every connection this database holds (when the command ends)."""
        self.engine.dispose()
