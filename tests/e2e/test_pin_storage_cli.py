"""No PIN is ever stored or shown: full database dumps (SQLite and PostgreSQL) and every output
of a busy day at the command line hold no PIN in clear. What is stored instead is each
operator's signing key sealed under argon2id(PIN) (keys.py): no PIN hash at all, and the real
command seals at argon2id's full costs."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, make_url, text

from bmac_workflow import keys
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
RESET = "R3set-pin-62915"  # the PIN an admin gives at a reset
CHOSEN = "Ch0sen-pin-80446"  # the one the nurse then chooses
EVERY_PIN = (*PINS.values(), WRONG, RESET, CHOSEN)
ROLES = {
    "admin": "admin",
    "nurse": "nurse",
    "nurse2": "nurse",
    "surgeon": "surgeon",
    "auditor": "auditor",
}
ARGON2_HASH = re.compile(r"\$argon2(id|i|d)\$")  # a PIN hash of the argon2 library
SEALED_FIELDS = {"format", "salt", "opslimit", "memlimit", "box"}


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
    """Operators added, PINs mistyped, locks, a reset and a new PIN chosen, a role changed and
    changed back, a setting, an unlock, a case up to follow-up, a checkpoint, and reading."""
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
    day(*opening, who="nurse", pin=RESET, want=6)  # she must choose her own PIN
    case = day(*opening, who="nurse", pin=RESET, BMAC_NEW_PIN=CHOSEN).stdout.strip()
    day("operator", "set-role", "nurse2", "--role", "surgeon", who="admin")
    day("operator", "set-role", "nurse2", "--role", "nurse", who="admin")
    day("settings", "set", "lock_minutes", "20", who="admin")
    for _ in range(5):
        day(*opening, who="surgeon", pin=WRONG, want=6)
    day("operator", "unlock", "surgeon", who="admin")
    for trigger, who, _ in happy_steps(int(case)):
        pin = CHOSEN if who == "nurse" else None
        args = step_args(trigger, int(case))
        if workflow().by_trigger[trigger].has_verifier():
            day(*args, who=who, pin=pin, want=6, BMAC_VERIFIER_PIN=WRONG)
            day(*args, who=who, pin=pin, BMAC_VERIFIER_PIN=PINS["nurse2"])
        else:
            day(*args, who=who, pin=pin)
    day(
        *step_args("record_follow_up", int(case), visit="1w", vas=4, koos=None),
        who="nurse",
        pin=CHOSEN,
    )
    day("case", "open", "--patient", "P-0043", "--knee", "right", who="auditor", want=6)
    day("audit", "checkpoint", who="auditor")
    for reading in (
        ("case", "timeline", case, "--json"),
        ("case", "timeline", case),
        ("case", "status", case, "--json"),
        ("case", "list", "--json"),
        ("operator", "list", "--json"),
        ("operator", "list"),
        ("settings", "show", "--json"),
        ("protocol", "list", "--json"),
        ("audit", "verify"),
        ("audit", "verify", "--full"),
        ("audit", "export", case, "--format", "json"),
    ):
        day(*reading, who="auditor")  # reading signs in too (BMAC_PIN, as scripts do)


def stored_keys(engine: Engine) -> list[tuple[str, str, str, str]]:
    """(id, pin_hash, public_key, sealed_key) of every operator."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, pin_hash, public_key, sealed_key FROM operators ORDER BY id")
        )
        return [(row[0], row[1], row[2], row[3]) for row in rows]


def sealed_fields(sealed_key: str) -> dict[str, Any]:
    """The fields of a sealed key, which must be exactly those of keys.py's format."""
    fields: dict[str, Any] = json.loads(sealed_key)
    assert set(fields) == SEALED_FIELDS, sealed_key
    assert fields["format"] == keys.SEALED_FORMAT
    return fields


def assert_no_pin_and_only_sealed_keys(dump: str, engine: Engine, on_disk: str = "") -> None:
    """`dump` is the logical dump; `on_disk` the raw files, old page versions included."""
    for pin in EVERY_PIN:
        assert pin not in dump + on_disk, f"a PIN is in the dump: {pin}"
    assert not ARGON2_HASH.search(dump + on_disk), "a PIN hash is stored"
    stored = stored_keys(engine)
    assert [row[0] for row in stored] == sorted(PINS)
    for operator_id, pin_hash, public_key, sealed_key in stored:
        assert pin_hash == "", operator_id  # no PIN hash once an operator has a key
        assert public_key and sealed_key, operator_id
        sealed_fields(sealed_key)
        # The dump holds the sealed key as stored (PostgreSQL's COPY escapes nothing in it).
        assert json.loads(sealed_key)["box"] in dump
    # Each PIN in force unseals its operator's key (and the old ones no longer do).
    in_force = {**PINS, "nurse": CHOSEN}
    for operator_id, _, public_key, sealed_key in stored:
        seed = keys.unseal(sealed_key, in_force[operator_id])
        assert seed is not None and keys.public_key_of(seed) == public_key, operator_id
    nurse_key = next(row[3] for row in stored if row[0] == "nurse")
    assert keys.unseal(nurse_key, PINS["nurse"]) is None
    assert keys.unseal(nurse_key, RESET) is None


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


def test_a_full_dump_holds_no_pin_in_clear_and_no_pin_hash_only_sealed_keys(
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
    assert_no_pin_and_only_sealed_keys(dump, engine, on_disk)


def test_no_output_of_a_busy_day_shows_a_pin(engine: Engine, db_url: str) -> None:
    day = Day(db_url)
    a_busy_day(day)
    everything = "\n".join(day.outputs)
    assert "wrong PIN" in everything and "locked" in everything  # the refusals were shown
    assert "must choose a new PIN" in everything and "BMAC_NEW_PIN" in everything
    for pin in EVERY_PIN:
        assert pin not in everything
    assert "pin_hash" not in everything and "$argon2" not in everything
    assert "sealed_key" not in everything and keys.SEALED_FORMAT not in everything
    for _, _, _, sealed_key in stored_keys(engine):
        fields = sealed_fields(sealed_key)
        assert fields["salt"] not in everything and fields["box"] not in everything


def _has_pg_dump() -> bool:
    from shutil import which

    return which("pg_dump") is not None


def test_the_installed_command_seals_keys_with_argon2id_at_full_cost(sqlite_url: str) -> None:
    """Outside the test process (whose argon2 costs are cheap), the real costs apply: the key
    is sealed under argon2id with at least 3 passes over 64 MiB (RFC 9106's second option)."""
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
    assert PINS["admin"] not in done.stdout + done.stderr
    conn = sqlite3.connect(make_url(sqlite_url).database or "")
    try:
        pin_hash, public_key, sealed_key = conn.execute(
            "SELECT pin_hash, public_key, sealed_key FROM operators"
        ).fetchone()
    finally:
        conn.close()
    assert pin_hash == ""
    fields = sealed_fields(sealed_key)
    assert fields["opslimit"] >= 3
    assert fields["memlimit"] >= 64 * 1024 * 1024
    # The costs it declares are the ones it was sealed with, under argon2id: libsodium's
    # argon2id at those costs, straight from PyNaCl, opens the box, and the key inside is the
    # admin's, whose fingerprint the command printed.
    from nacl.pwhash import argon2id
    from nacl.secret import SecretBox

    box_key = argon2id.kdf(
        SecretBox.KEY_SIZE,
        PINS["admin"].encode(),
        keys.unb64(fields["salt"]),
        opslimit=fields["opslimit"],
        memlimit=fields["memlimit"],
    )
    seed = SecretBox(box_key).decrypt(keys.unb64(fields["box"]))
    assert keys.public_key_of(seed) == public_key
    assert done.stdout.strip().endswith(keys.fingerprint(public_key))
