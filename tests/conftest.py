"""Shared fixtures: databases (SQLite always, PostgreSQL when BMAC_TEST_POSTGRES_URL is set),
a clinic with one operator of each role, and the `bmac` command through click's CliRunner.

The happy walk of a case, and the command-line arguments of each step, come from the step
declarations (tests/walk.py), so that no test spells the workflow out again.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, create_engine, text

from bmac_workflow import keys
from bmac_workflow.operators import Operator
from bmac_workflow.protocol import Protocol, load
from bmac_workflow.services import cases, operators
from bmac_workflow.services.signing import Credentials
from bmac_workflow.store.database import Database
from bmac_workflow.store.unit_of_work import UnitOfWork
from bmac_workflow.timeutil import iso, utcnow
from tests.walk import PINS, ROLE_OF, happy_steps, pin_of, use_cheap_pin_hashing

PG_ENV = "BMAC_TEST_POSTGRES_URL"
__all__ = ["PINS", "ROLE_OF", "Bmac", "Clinic", "advance_to", "happy_steps", "pin_of"]


def pytest_unconfigure(config: pytest.Config) -> None:
    """The run's last line says which databases it tested (skips are not listed one by one:
    a test that needs the database it does not have is skipped, and this line says why)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    url = os.environ.get(PG_ENV)
    where = f"SQLite + PostgreSQL at {_without_password(url)}" if url else "SQLite only"
    reporter.write_line(f"databases tested: {where}")


def _without_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@pytest.fixture(autouse=True, scope="session")
def _fast_argon2() -> Iterator[None]:
    """argon2id with small costs inside this process, so hundreds of sign-ins stay quick.
    Subprocess tests use the real defaults."""
    original = keys.COST
    use_cheap_pin_hashing()
    yield
    keys.COST = original


@pytest.fixture(autouse=True)
def _session_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test keeps `bmac login`'s session files in a folder of its own."""
    folder = tmp_path / "sessions"
    monkeypatch.setenv("BMAC_SESSION_DIR", str(folder))
    return folder


def login(url: str, who: str = "auditor") -> None:
    """Sign `who` in for reading on this machine, as `bmac login` does (the session file)."""
    from bmac_workflow.cli import session_file
    from bmac_workflow.services.sessions import login as open_session
    from bmac_workflow.sessions import CLI

    db = Database.open(url)
    try:
        opened = open_session(credentials(who), CLI, utcnow(), db)
    finally:
        db.dispose()
    session_file.write(url, opened.operator_id, opened.key)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'bmac.sqlite3'}"


def pg_server_url() -> str | None:
    return os.environ.get(PG_ENV)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh schema on the test server, dropped afterwards."""
    base = pg_server_url()
    if not base:
        pytest.skip(f"{PG_ENV} is not set")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options=-csearch_path%3D{schema}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each test that takes this runs on SQLite and on PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    from bmac_workflow.services.schema import upgrade

    db = Database.open(db_url, check_schema=False)
    upgrade(db)
    yield db
    db.dispose()


@pytest.fixture
def engine(database: Database) -> Engine:
    return database.engine


AUTO = "auto"
LATE_AFTER = 15  # minutes: the shipped protocol's `recording.late_after_minutes`


def late_reason_for(at: datetime | None, given: str | None = AUTO) -> str | None:
    """The late reason a test gives: `given`, or by default one when `at` is late enough to
    need it (the tests' walks log whole cases hours or days after the fact)."""
    if given != AUTO:
        return given
    if at is not None and (utcnow() - at).total_seconds() > LATE_AFTER * 60:
        return "logged after the fact (test)"
    return None


def credentials(who: str, pin: str | None = None, new_pin: str | None = None) -> Credentials:
    """The credentials of operator `who`, with their PIN (or `pin`), and the new PIN they
    choose when they must (`new_pin`)."""
    given = pin if pin is not None else pin_of(who)
    return Credentials(who, lambda: given, (lambda: new_pin) if new_pin is not None else None)


@dataclass
class Clinic:
    """A migrated database with one operator of each role."""

    db: Database
    url: str
    protocol: Protocol
    ops: dict[str, Operator] = field(default_factory=dict)

    @property
    def engine(self) -> Engine:
        return self.db.engine

    def uow(self, write: bool = True) -> UnitOfWork:
        """A unit of work straight on the store (for tests that look at rows)."""
        return self.db.write() if write else self.db.read()

    def credentials(self, who: str, pin: str | None = None) -> Credentials:
        return credentials(who, pin)

    def open(
        self,
        patient: str = "P-0001",
        knee: str = "left",
        at: datetime | None = None,
        protocol: Protocol | str | None = None,
        who: str = "nurse",
        late_reason: str | None = AUTO,
    ) -> int:
        """Open a case; `protocol` is an activated version or content (default: the active)."""
        change = cases.open_case(
            patient,
            knee,
            protocol,
            credentials(who),
            iso(at) if at else None,
            utcnow,
            self.db,
            late_reason_for(at, late_reason),
        )
        return change.case.case_id

    def fire(
        self,
        case_id: int,
        trigger: str,
        values: dict[str, Any] | None = None,
        who: str = "nurse",
        at: datetime | None = None,
        verifier: str | Operator | None = None,
        reason: str | None = None,
        pin: str | None = None,
        late_reason: str | None = AUTO,
    ) -> cases.Change:
        if isinstance(verifier, Operator):
            verifier = verifier.id
        when = iso(at) if at else None
        late = late_reason_for(at, late_reason)
        request = cases.StepRequest(case_id, trigger, values or {}, when, reason, late)
        second = credentials(verifier) if verifier else None
        return cases.log_step(request, credentials(who, pin), utcnow, self.db, second)

    def count(self, table: str) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())

    def counts(self) -> dict[str, int]:
        return {
            t: self.count(t)
            for t in (
                "cases",
                "entries",
                "operators",
                "operator_events",
                "protocols",
                "checkpoints",
                "due_visits",
                "registry",
            )
        }

    def review_deviations(self) -> int:
        """Close every open deviation as the qa operator (a back-dated walk logs every entry
        late, and each late entry opens one that holds its case open); how many were closed."""
        from bmac_workflow.services import deviations

        found = deviations.listing(True, self.db)
        for row in found:
            deviations.close(
                row["deviation"], "entered after the fact", "none", credentials("qa"), utcnow,
                self.db,
            )  # fmt: skip
        return len(found)

    def state_of(self, case_id: int) -> str:
        with self.uow(write=False) as uow:
            found = uow.repo.get_case(case_id)
            assert found is not None
            return found[0].state


def advance_to(clinic: Clinic, case_id: int, state: str, start: datetime | None = None) -> None:
    """Drive a case along the happy path until it is in `state`."""
    from datetime import timedelta

    from bmac_workflow.states import workflow

    order = list(workflow().states)
    minute = 0
    for trigger, who, values in happy_steps(case_id):
        current = clinic.state_of(case_id)
        if order.index(state) <= order.index(current):
            return
        if trigger not in workflow().triggers_from(current):
            continue  # taken already
        verifier = values.get("verifier_id")
        at = start + timedelta(minutes=minute) if start else None
        clinic.fire(case_id, trigger, values, who, at=at, verifier=verifier)
        minute += 10


def add_operator_args(op_id: str, name: str, role: str) -> tuple[str, ...]:
    """The arguments of `bmac operator add` (the PIN comes from BMAC_NEW_PIN)."""
    return ("operator", "add", op_id, "--name", name, "--role", role)


@pytest.fixture
def clinic(database: Database, db_url: str) -> Clinic:
    protocol = load(None)
    result = Clinic(database, db_url, protocol)
    for op_id in ("admin", "nurse", "nurse2", "surgeon", "auditor", "qa"):
        result.ops[op_id] = operators.add_operator(
            op_id,
            f"{op_id.title()} Name" if op_id != "admin" else "Admin Lee",
            ROLE_OF[op_id],
            lambda op_id=op_id: PINS[op_id],  # type: ignore[misc]
            credentials("admin"),
            utcnow,
            database,
        ).operator
    # This machine's reading session (`bmac login`): `bmac` run as nobody reads as the auditor,
    # in process or in a child process (the session folder is the test's own).
    login(db_url)
    return result


@dataclass
class Bmac:
    """Runs `bmac` in-process against one database, as one operator at a time (by PIN, as
    scripts do); a reading command run as nobody reads in the auditor's session (`bmac login`,
    made by the fixture)."""

    url: str
    runner: CliRunner = field(default_factory=CliRunner)

    def __call__(
        self,
        *args: str,
        who: str | None = None,
        pin: str | None = None,
        env: dict[str, str] | None = None,
    ) -> Result:
        from bmac_workflow.cli import cli

        full_env = {"BMAC_DATABASE_URL": self.url, "BMAC_VERIFIER_PIN": PINS["nurse2"]}
        if who:
            full_env["BMAC_OPERATOR"] = who
            full_env["BMAC_PIN"] = pin if pin is not None else pin_of(who)
        full_env.update(env or {})
        return self.runner.invoke(cli, list(args), env=full_env, catch_exceptions=False)

    def review_deviations(self) -> int:
        """`Clinic.review_deviations` through `bmac deviation close` as the qa operator."""
        import json

        listed = self("deviation", "list", "--open", "--json", who="qa")
        assert listed.exit_code == 0, listed.stderr
        found = json.loads(listed.stdout)
        for row in found:
            args = ["--root-cause", "entered after the fact", "--action", "none"]
            done = self("deviation", "close", str(row["deviation"]), *args, who="qa")
            assert done.exit_code == 0, done.stderr
        return len(found)


@pytest.fixture
def bmac(clinic: Clinic) -> Bmac:
    return Bmac(clinic.url)
