"""Shared fixtures: databases (SQLite always, PostgreSQL when BMAC_TEST_POSTGRES_URL is set),
a clinic with one operator of each role, and the `bmac` command through click's CliRunner."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, create_engine, text

from bmac_workflow import people
from bmac_workflow.people import Operator
from bmac_workflow.protocol import Protocol, load
from bmac_workflow.services import cases, operators
from bmac_workflow.services.signing import sign_in
from bmac_workflow.store.engine import make_engine
from bmac_workflow.store.migrate import upgrade
from bmac_workflow.store.unit_of_work import UnitOfWork
from bmac_workflow.timeutil import iso, utcnow

PG_ENV = "BMAC_TEST_POSTGRES_URL"
PINS = {"admin": "9000", "nurse": "1111", "nurse2": "2222", "surgeon": "3333", "auditor": "4444"}
ROLE_OF = {
    "admin": "admin",
    "nurse": "nurse",
    "nurse2": "nurse",
    "surgeon": "surgeon",
    "auditor": "auditor",
}


@pytest.fixture(autouse=True, scope="session")
def _fast_argon2() -> Iterator[None]:
    """argon2id with small costs inside this process, so hundreds of sign-ins stay quick.
    Subprocess tests use the real defaults."""
    from argon2 import PasswordHasher

    people._hasher.cache_clear()
    original = people._hasher
    fast = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    people._hasher = lambda: fast  # type: ignore[assignment]
    yield
    people._hasher = original


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
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@dataclass
class Clinic:
    """A migrated database with one operator of each role, signed in."""

    engine: Engine
    url: str
    protocol: Protocol
    ops: dict[str, Operator] = field(default_factory=dict)

    def uow(self, write: bool = True) -> UnitOfWork:
        return UnitOfWork(self.engine, write=write)

    def open(
        self,
        patient: str = "P-0001",
        knee: str = "left",
        at: datetime | None = None,
        protocol: Protocol | None = None,
    ) -> int:
        change = cases.open_case(
            patient,
            knee,
            protocol or self.protocol,
            self.ops["nurse"],
            iso(at) if at else None,
            utcnow(),
            self.uow(),
        )
        return change.case.case_id

    def fire(
        self,
        case_id: int,
        trigger: str,
        values: dict[str, Any] | None = None,
        who: str = "nurse",
        at: datetime | None = None,
        **kw: Any,
    ) -> cases.Change:
        return cases.fire(
            case_id,
            trigger,
            values or {},
            self.ops[who],
            iso(at) if at else None,
            utcnow(),
            self.uow(),
            **kw,
        )

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
            )
        }


def add_operator_args(op_id: str, name: str, role: str) -> tuple[str, ...]:
    """The arguments of `bmac operator add` (the PIN comes from BMAC_NEW_PIN)."""
    return ("operator", "add", op_id, "--name", name, "--role", role)


# The CLI options of a valid collection, less the specimen ID (which each test chooses).
COLLECTION = ("--side", "left", "--aspirate-ml", "60", "--anticoagulant", "heparin", "--kit-lot",
              "K-1")  # fmt: skip

# The data of each step that a happy case uses, in order, with who performs it.
HAPPY_STEPS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "assess",
        "surgeon",
        {
            "kl_grade": 3,
            "icrs_grade": 4,
            "imaging": ["xray", "mri"],
            "leg_deformity": False,
            "baseline_vas": 7,
        },
    ),
    (
        "collect",
        "nurse",
        {
            "side": "left",
            "aspirate_ml": 60,
            "anticoagulant": "heparin",
            "kit_lot": "K-1",
            "specimen_id": "SP-{case}",
        },
    ),
    ("filter", "nurse", {"filter_lot": "F-1", "filtered_ml": 55}),
    ("centrifuge", "nurse", {"device_id": "CF-1", "g_force": 1500, "duration_min": 10, "spins": 2}),
    ("remove_plasma", "nurse", {"plasma_removed_ml": 45, "rbc_removed": True}),
    ("concentrate", "nurse", {"concentrate_ml": 6}),
    (
        "inject",
        "surgeon",
        {
            "knee": "left",
            "injected_ml": 5,
            "guidance": "ultrasound",
            "specimen_id": "SP-{case}",
            "verifier_id": "nurse2",
        },
    ),
]


def step_values(trigger: str, case_id: int) -> dict[str, Any]:
    for name, _, values in HAPPY_STEPS:
        if name == trigger:
            return {
                k: v.format(case=case_id) if isinstance(v, str) else v for k, v in values.items()
            }
    raise KeyError(trigger)


def advance_to(clinic: Clinic, case_id: int, state: str, start: datetime | None = None) -> None:
    """Drive a case along the happy path until it is in `state`."""
    from bmac_workflow import states

    order = states.STATES[: states.STATES.index(states.FOLLOW_UP) + 1]
    minute = 0
    for trigger, who, _ in HAPPY_STEPS:
        if order.index(state) <= order.index(_state_of(clinic, case_id)):
            return
        extra = {"verifier": clinic.ops["nurse2"]} if trigger == "inject" else {}
        at = start + timedelta(minutes=minute) if start else None
        clinic.fire(case_id, trigger, step_values(trigger, case_id), who, at=at, **extra)
        minute += 10


def _state_of(clinic: Clinic, case_id: int) -> str:
    with clinic.uow(write=False) as uow:
        found = uow.repo.get_case(case_id)
        assert found is not None
        return found[0].state


@pytest.fixture
def clinic(engine: Engine, db_url: str) -> Clinic:
    protocol = load(None)
    now = utcnow()
    result = Clinic(engine, db_url, protocol)
    operators.add_operator("admin", "Admin Lee", "admin", PINS["admin"], None, now, result.uow())
    admin = sign_in("admin", PINS["admin"], protocol, now, result.uow())
    result.ops["admin"] = admin
    for op_id in ("nurse", "nurse2", "surgeon", "auditor"):
        operators.add_operator(
            op_id, f"{op_id.title()} Name", ROLE_OF[op_id], PINS[op_id], admin, now, result.uow()
        )
        result.ops[op_id] = sign_in(op_id, PINS[op_id], protocol, now, result.uow())
    return result


@dataclass
class Bmac:
    """Runs `bmac` in-process against one database, as one operator at a time."""

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
            full_env["BMAC_PIN"] = pin if pin is not None else PINS[who]
        full_env.update(env or {})
        return self.runner.invoke(cli, list(args), env=full_env, catch_exceptions=False)


@pytest.fixture
def bmac(clinic: Clinic) -> Bmac:
    return Bmac(clinic.url)
