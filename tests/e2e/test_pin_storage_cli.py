"""No PIN is ever stored or shown: full database dumps (SQLite and PostgreSQL) and every output
of a busy day at the command line hold no PIN in clear, and every stored hash is argon2id."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, make_url, text

from bmac_workflow.states import workflow
from tests.conftest import add_operator_args
from tests.walk import happy_steps, step_args

# Long and distinctive, so that finding one in a dump cannot be a coincidence.
PINS = {
    "admin": "Adm1n-pin-40417",
    "nurse": "Nurs3-pin-73314",
    "nurse2": "Nurs3b-pin-55190",
    "surgeon": "Surg3-pin-88263",
    "auditor": "Aud1t-pin-31127",
}
WRONG = "Wr0ng-pin-19377"
RESET = "R3set-pin-62915"
EVERY_PIN = (*PINS.values(), WRONG, RESET)
ROLES = {
    "admin": "admin",
    "nurse": "nurse",
    "nurse2": "nurse",
    "surgeon": "surgeon",
    "auditor": "auditor",
}
ARGON2_ANY = re.compile(r"\$argon2(id|i|d)\$")
ARGON2ID = re.compile(r"\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+")


class Day:
    """Runs `bmac` as the clinic would through a day, keeping every output."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.outputs: list[str] = []

    def __call__(
        self,
        *args: str,
        who: str | None = None,
        pin: str | None = None,
        want: int = 0,
        **env: str,
    ) -> Result:
        from bmac_workflow.cli import cli

        full: dict[str, str | None] = {
            "BMAC_DATABASE_URL": self.url,
            "BMAC_OPERATOR": who,
            "BMAC_PIN": None,
            "BMAC_NEW_PIN": None,
            "BMAC_VERIFIER_PIN": None,
            **env,
        }
        if who:
            full["BMAC_PIN"] = pin if pin is not None else PINS[who]
        result = CliRunner().invoke(cli, list(args), env=full, catch_exceptions=False)
        self.outputs += [result.stdout, result.stderr]
        assert result.exit_code == want, (args, result.stderr)
        return result


def a_busy_day(day: Day) -> None:
    """Operators added, PINs mistyped, a lock, a reset, and a case up to follow-up."""
    day(
        *add_operator_args("admin", "Admin Lee", "admin"),
        BMAC_NEW_PIN=PINS["admin"],
    )
    for op_id, role in ROLES.items():
        if op_id != "admin":
            day(
                *add_operator_args(op_id, op_id.title(), role),
                who="admin",
                BMAC_NEW_PIN=PINS[op_id],
            )
    opening = ("case", "open", "--patient", "P-0042", "--knee", "left")
    for _ in range(5):
        day(*opening, who="nurse", pin=WRONG, want=6)
    day(*opening, who="nurse", want=6)  # locked
    day("operator", "reset-pin", "nurse", who="admin", BMAC_NEW_PIN=RESET)
    case = day(*opening, who="nurse", pin=RESET).stdout.strip()
    for trigger, who, _ in happy_steps(int(case)):
        pin = RESET if who == "nurse" else None
        args = step_args(trigger, int(case))
        if workflow().by_trigger[trigger].has_verifier():
            day(*args, who=who, pin=pin, want=6, BMAC_VERIFIER_PIN=WRONG)
            day(*args, who=who, pin=pin, BMAC_VERIFIER_PIN=PINS["nurse2"])
        else:
            day(*args, who=who, pin=pin)
    day(
        *step_args("record_follow_up", int(case), visit="1w", vas=4, koos=None),
        who="nurse",
        pin=RESET,
    )
    day("case", "open", "--patient", "P-0043", "--knee", "right", who="auditor", want=6)
    for reading in (
        ("case", "timeline", case, "--json"),
        ("case", "timeline", case),
        ("case", "status", case, "--json"),
        ("case", "list", "--json"),
        ("operator", "list", "--json"),
        ("operator", "list"),
        ("audit", "verify"),
    ):
        day(*reading)


def assert_no_pin_and_only_argon2id(dump: str, engine: Engine, on_disk: str = "") -> None:
    """`dump` is the logical dump; `on_disk` the raw files, old page versions included."""
    for pin in EVERY_PIN:
        assert pin not in dump + on_disk, f"a PIN is in the dump: {pin}"
    assert {m.group(1) for m in ARGON2_ANY.finditer(dump + on_disk)} == {"id"}
    with engine.connect() as conn:
        hashes = list(conn.execute(text("SELECT pin_hash FROM operators")).scalars())
    assert len(hashes) == len(PINS)
    for pin_hash in hashes:
        assert ARGON2ID.fullmatch(pin_hash), pin_hash
        assert pin_hash in dump
    assert len(ARGON2_ANY.findall(dump)) == len(hashes)


def sqlite_dump(url: str) -> tuple[str, str]:
    """The SQL text of the whole database, and its files' bytes as they lie on disk."""
    path = Path(make_url(url).database or "")
    conn = sqlite3.connect(path)
    try:
        text_dump = "\n".join(conn.iterdump())
    finally:
        conn.close()
    raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    return text_dump, raw.decode("latin-1")


def postgres_dump(url: str) -> str:
    """pg_dump of the test's schema (schema and data)."""
    parsed = make_url(url)
    schema = parsed.query["options"].split("=", 1)[1]  # type: ignore[union-attr]
    command = [
        "pg_dump",
        "-h",
        parsed.host or "127.0.0.1",
        "-p",
        str(parsed.port or 5432),
        "-U",
        parsed.username or "postgres",
        "-d",
        parsed.database or "postgres",
        "-n",
        schema,
        "--no-owner",
    ]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PGCONNECT_TIMEOUT": "10"},
    )
    return done.stdout


def test_a_full_dump_holds_no_pin_in_clear_and_only_argon2id_hashes(
    engine: Engine, db_url: str
) -> None:
    day = Day(db_url)
    a_busy_day(day)
    on_disk = ""
    if db_url.startswith("sqlite"):
        dump, on_disk = sqlite_dump(db_url)
    else:
        if not _has_pg_dump():
            pytest.skip("pg_dump is not installed")
        dump = postgres_dump(db_url)
    assert "INSERT INTO" in dump or "COPY " in dump  # the dump does hold the data
    assert "Nurse2" in dump
    assert_no_pin_and_only_argon2id(dump, engine, on_disk)


def test_no_output_of_a_busy_day_shows_a_pin(engine: Engine, db_url: str) -> None:
    day = Day(db_url)
    a_busy_day(day)
    everything = "\n".join(day.outputs)
    assert "wrong PIN" in everything and "locked" in everything  # the refusals were shown
    for pin in EVERY_PIN:
        assert pin not in everything
    assert "pin_hash" not in everything and "$argon2" not in everything


def _has_pg_dump() -> bool:
    from shutil import which

    return which("pg_dump") is not None


def test_the_installed_command_hashes_with_argon2id_at_full_cost(sqlite_url: str) -> None:
    """Outside the test process (whose hasher is cheap), the real costs apply."""
    env = {**os.environ, "BMAC_DATABASE_URL": sqlite_url, "BMAC_NEW_PIN": PINS["admin"]}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from bmac_workflow.cli import main; main()",
            *add_operator_args("admin", "Admin Lee", "admin"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    conn = sqlite3.connect(make_url(sqlite_url).database or "")
    try:
        (pin_hash,) = conn.execute("SELECT pin_hash FROM operators").fetchone()
    finally:
        conn.close()
    assert pin_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert PINS["admin"] not in done.stdout + done.stderr
