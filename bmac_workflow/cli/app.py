"""The context object every command receives: database, operator, protocol, clock."""

from __future__ import annotations

import gc
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from ..timeutil import utcnow

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from ..people import Operator
    from ..protocol import Protocol
    from ..store.lookup import CaseLookup
    from ..store.unit_of_work import UnitOfWork


@dataclass
class App:
    """Settings from the global options, and the engine built from them on first use."""

    db_url: str | None
    operator: str | None
    protocol_path: str | None
    _engine: Any = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The database URL in force."""
        from ..store.engine import default_url

        return self.db_url or default_url()

    def engine(self, check_schema: bool = True) -> Engine:
        """The engine, once; a brand-new database is created, an old one refused."""
        if self._engine is None:
            from ..store.engine import make_engine
            from ..store.migrate import ensure_current

            self._engine = make_engine(self.url)
            if check_schema:
                ensure_current(self._engine)
            settle_heap()
        return self._engine  # type: ignore[no-any-return]

    def close(self) -> None:
        """Close the database connections the command opened (when the command ends)."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def uow(self, write: bool = False) -> UnitOfWork:
        """A new unit of work on the database."""
        from ..store.unit_of_work import UnitOfWork

        return UnitOfWork(self.engine(), write=write)

    def lookup(self) -> CaseLookup:
        """A read of one case on the database that needs no ORM (`case status`)."""
        from ..store.lookup import CaseLookup

        return CaseLookup(self.engine())

    def now(self) -> datetime:
        """The current time (UTC)."""
        return utcnow()

    def protocol(self) -> Protocol:
        """The protocol file in force for new cases and sign-in limits."""
        from ..protocol import load

        return load(self.protocol_path)

    def interactive(self) -> bool:
        """True when a person is at a terminal, who can be asked for a PIN without echo."""
        return sys.stdin.isatty()

    def sign_in(
        self, operator_id: str | None = None, pin_env: str = "BMAC_PIN", who: str = ""
    ) -> Operator:
        """Sign an operator in with their PIN: from `pin_env` when set, else asked on a terminal
        without echo. The PIN goes to the hash check and nowhere else (no log, no message)."""
        from ..errors import NotPermitted
        from ..services.signing import sign_in

        operator_id = operator_id or self.operator
        pin = os.environ.get(pin_env) or None  # an empty variable is a script's slip, not a try
        if pin is None and operator_id:
            if not self.interactive():
                raise NotPermitted(
                    f"no PIN for {who}{operator_id}: run the command in a terminal to be "
                    f"asked, or set {pin_env} in a script"
                )
            pin = click.prompt(f"PIN for {who}{operator_id}", hide_input=True, err=True)
        return sign_in(operator_id, pin, self.protocol(), self.now(), self.uow(write=True))

    def case_version(self, case_id: int) -> int | None:
        """The case's entry count as this command starts, to detect a change under us."""
        with self.uow() as uow:
            return uow.repo.case_version(case_id)


def settle_heap() -> None:
    """Switch the garbage collector back on if `main` held it off while the command loaded.

    What is loaded by now stays for the whole process: frozen, later collections skip it, so
    that a long command (verify, export) collects only its own garbage.
    """
    if not gc.isenabled():
        gc.freeze()
        gc.enable()
