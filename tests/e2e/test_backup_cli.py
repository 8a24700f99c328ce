"""`bmac db backup`: a consistent copy of a live SQLite database, verified after writing."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bmac_workflow.checks import heads_digest
from bmac_workflow.store.database import Database
from tests.conftest import Bmac, Clinic, advance_to

ROOT = Path(__file__).resolve().parents[2]

# Another workstation: opens and assesses cases, signing with the operators' real PINs.
WRITER = """
import os, sys, time
from bmac_workflow.protocol import load
from bmac_workflow.services import cases
from bmac_workflow.services.signing import Credentials
from bmac_workflow.store.database import Database
from bmac_workflow.timeutil import utcnow
from tests.walk import PINS, step_values

url, stop = sys.argv[1], sys.argv[2]
db, protocol = Database.open(url), load(None)
nurse = Credentials("nurse", lambda: PINS["nurse"])
surgeon = Credentials("surgeon", lambda: PINS["surgeon"])
deadline = time.monotonic() + 60  # never outlive a broken test
n = 0
while not os.path.exists(stop) and time.monotonic() < deadline:
    case = cases.open_case(f"W-{n}", "right", protocol, nurse, None, utcnow, db)
    case_id = case.case.case_id
    request = cases.StepRequest(case_id, "assess", step_values("assess", case_id))
    cases.log_step(request, surgeon, utcnow, db)
    n += 1
    print(n, flush=True)
"""


def sqlite_only(clinic: Clinic) -> None:
    if clinic.engine.dialect.name != "sqlite":
        pytest.skip("bmac db backup copies SQLite databases")


def wait_for(condition, what: str, seconds: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def test_a_backup_taken_while_another_process_writes_is_a_verified_prefix_of_the_source(
    clinic: Clinic, bmac: Bmac, tmp_path: Path
) -> None:
    sqlite_only(clinic)
    advance_to(clinic, clinic.open(), "follow_up")
    stop = tmp_path / "stop"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, clinic.url, str(stop)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: clinic.count("entries") > 20, "the writer to log")
        mark = bmac("audit", "checkpoint", who="auditor")
        assert mark.exit_code == 0, mark.stderr
        copy = tmp_path / "copy.sqlite3"
        result = bmac("db", "backup", str(copy), who="admin")
        assert result.exit_code == 0, result.stderr
        assert "copy opened and verified" in result.stdout
        # One self-contained file: nothing of it is left in a WAL beside it.
        assert not Path(f"{copy}-wal").exists()
        plain = sqlite3.connect(copy)
        assert plain.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        plain.close()
        copy_db = Database.open(f"sqlite:///{copy}")
        with copy_db.read() as uow:
            copied = uow.repo.current_heads()
        copy_db.dispose()
        copied_entries = sum(n for n, _ in copied.values())
        # The writer goes on after the copy: the source outgrows it.
        wait_for(lambda: clinic.count("entries") > copied_entries + 4, "more entries")
    finally:
        stop.touch()
        writer.wait(timeout=30)
    assert writer.returncode == 0, writer.stderr.read() if writer.stderr else ""
    printed = result.stdout.split("checkpoint digest of the copy: ")[1].split()[0]
    assert printed == heads_digest(copied)
    # The copy is the source as it was at one instant: every case's head at the copy's counts
    # gives the very same digest on the source.
    with clinic.uow(write=False) as uow:
        found = uow.repo.head_hashes([(int(case), n) for case, (n, _) in copied.items()])
    heads = {str(case): (n, head) for (case, n), head in found.items()}
    assert len(heads) == len(copied)
    assert heads_digest(heads) == printed
    on_copy = Bmac(f"sqlite:///{copy}")
    verified = on_copy("audit", "verify", "--against", mark.stdout.strip(), who="auditor")
    assert verified.exit_code == 0, verified.stdout
    assert bmac("audit", "verify").exit_code == 0


def test_a_backup_never_overwrites(clinic: Clinic, bmac: Bmac, tmp_path: Path) -> None:
    sqlite_only(clinic)
    target = tmp_path / "exists.sqlite3"
    target.write_text("keep me")
    result = bmac("db", "backup", str(target), who="admin")
    assert result.exit_code == 5
    assert "never overwrites" in result.stderr
    assert target.read_text() == "keep me"


def test_only_an_admin_takes_backups(clinic: Clinic, bmac: Bmac, tmp_path: Path) -> None:
    sqlite_only(clinic)
    result = bmac("db", "backup", str(tmp_path / "b.sqlite3"), who="nurse")
    assert result.exit_code == 6
    assert not (tmp_path / "b.sqlite3").exists()


def test_postgresql_is_sent_to_pg_dump(clinic: Clinic, bmac: Bmac, tmp_path: Path) -> None:
    if clinic.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    result = bmac("db", "backup", str(tmp_path / "b.sqlite3"), who="admin")
    assert result.exit_code == 5
    assert "pg_dump" in result.stderr
