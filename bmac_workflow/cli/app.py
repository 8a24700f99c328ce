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
    from collections.abc import Callable

    from ..protocol import Protocol
    from ..services.sessions import Reader
    from ..services.signing import Credentials
    from ..store.database import Database


@dataclass
class App:
    """Settings from the global options, and the database opened from them on first use."""

    db_url: str | None
    operator: str | None
    protocol_path: str | None
    _database: Any = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The database URL in force."""
        from ..store.engine import default_url

        return self.db_url or default_url()

    def database(
        self, check_schema: bool = True, read_only: bool = False, create: bool = False
    ) -> Database:
        """The database, once; one at another revision refused. Only `create` (db upgrade, the
        first operator) makes a new one; `read_only` (every reading command) opens it so that
        nothing is written, not even a journal switch."""
        if self._database is None:
            from ..store.database import Database

            self._database = Database.open(
                self.url, check_schema=check_schema, create=create, read_only=read_only
            )
            settle_heap()
        return self._database  # type: ignore[no-any-return]

    def for_reading(self) -> Database:
        """The database a reading command opens: never created nor migrated, and written only
        to log the read (the access log). A SQLite file that cannot be written (a backup on
        read-only media) is opened read-only and read without a log entry, as it says."""
        from ..store.engine import writable

        if self._database is None and not writable(self.url):
            found = self.database(read_only=True)
            click.echo(
                "note: this database cannot be written: the read is in no access log", err=True
            )
            return found
        return self.database()

    def close(self) -> None:
        """Close the database connections the command opened (when the command ends)."""
        if self._database is not None:
            self._database.dispose()
            self._database = None

    def now(self) -> datetime:
        """The current time (UTC)."""
        return utcnow()

    def protocol(self) -> Protocol | str | None:
        """What `--protocol` names for new cases: a file's content (checked strictly; it must
        be an activated version), an activated version by name, or None (the active one)."""
        from pathlib import Path

        from ..protocol import load

        given = self.protocol_path
        if given is None or not (given.endswith(".toml") or Path(given).exists()):
            return given
        return load(given)

    def interactive(self) -> bool:
        """True when a person is at a terminal, who can be asked for a PIN without echo."""
        return sys.stdin.isatty()

    def credentials(self) -> Credentials:
        """The operator of `--operator` / BMAC_OPERATOR, whose PIN is asked when needed (and a
        new PIN when theirs must change: BMAC_NEW_PIN, or asked twice)."""
        from dataclasses import replace

        found = self._credentials(self.operator, "BMAC_PIN", "")
        return replace(found, new_pin=self.new_pin(self.operator or ""))

    def reader(self) -> Reader:
        """How a reading command signs in: with BMAC_PIN when it and an operator are set (as
        scripts do), else with the session `bmac login` left for this database; else it will
        be refused (exit 6) with the way forward. A reading command never prompts."""
        from ..services.sessions import Reader
        from ..services.signing import Credentials
        from . import session_file

        pin = os.environ.get("BMAC_PIN") or None
        if pin is not None and self.operator:
            return Reader("cli", credentials=Credentials(self.operator, lambda: pin))
        return Reader("cli", key=session_file.read(self.url))

    def new_pin(self, operator_id: str) -> Callable[[], str]:
        """How to get a new PIN for `operator_id`: BMAC_NEW_PIN, or asked twice without echo
        (only when the command is known to go ahead); it is never stored, only sealed under."""

        def ask() -> str:
            from ..errors import NotPermitted

            pin = os.environ.get("BMAC_NEW_PIN")
            if pin is None:
                if not self.interactive():
                    raise NotPermitted(
                        f"a new PIN is needed for {operator_id}: run the command in a terminal "
                        "to be asked, or set BMAC_NEW_PIN in a script"
                    )
                pin = click.prompt(
                    f"new PIN for {operator_id}",
                    hide_input=True,
                    confirmation_prompt=True,
                    err=True,
                )
            return pin

        return ask

    def verifier(self, operator_id: str) -> Credentials:
        """The second person of a step, whose PIN is BMAC_VERIFIER_PIN or asked."""
        from dataclasses import replace

        found = self._credentials(operator_id, "BMAC_VERIFIER_PIN", "verifier ")
        return replace(found, option="--verifier")

    def _credentials(self, operator_id: str | None, pin_env: str, who: str) -> Credentials:
        from ..services.signing import Credentials

        def pin() -> str | None:
            """From `pin_env` when set, else asked on a terminal without echo. The PIN goes to
            the check and nowhere else (no log, no message)."""
            from ..errors import NotPermitted

            value = os.environ.get(pin_env) or None  # an empty variable is a script's slip
            if value is None and operator_id:
                if not self.interactive():
                    raise NotPermitted(
                        f"no PIN for {who}{operator_id}: run the command in a terminal to be "
                        f"asked, or set {pin_env} in a script"
                    )
                value = click.prompt(f"PIN for {who}{operator_id}", hide_input=True, err=True)
            return value

        return Credentials(operator_id, pin)


def settle_heap() -> None:
    """Switch the garbage collector back on if `main` held it off while the command loaded.

    What is loaded by now stays for the whole process: frozen, later collections skip it, so
    that a long command (verify, export) collects only its own garbage.
    """
    if not gc.isenabled():
        gc.freeze()
        gc.enable()
