"""Power cuts: a process logging steps is killed with SIGKILL at random moments, 20 times.

After every kill the SQLite file passes `PRAGMA integrity_check`, `audit verify` is clean, every
case row equals the replay of its log (no half-written case), and every entry whose commit had
returned before the kill is still there.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import sqlite3
import time
from multiprocessing.process import BaseProcess
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from bmac_workflow.record import CaseSnapshot, replay
from bmac_workflow.services.verification import verify
from bmac_workflow.store import tables
from tests.conftest import Clinic
from tests.walk import PINS
from tests.workers.crash_child import main

KILLS = 20


def start_child(url: str, tag: str, report: Path) -> BaseProcess:
    # A forked child starts logging at once (no second import of the stack), so the 20 kills
    # take seconds; it opens its own engine and never touches the parent's connections.
    child = multiprocessing.get_context("fork").Process(
        target=main, args=(url, tag, PINS, str(report))
    )
    child.start()
    deadline = time.monotonic() + 60
    while not (report.exists() and report.read_text().count("\n")):
        assert child.is_alive() and time.monotonic() < deadline, "the child never logged"
        time.sleep(0.01)
    return child


def committed_lines(output: str) -> set[tuple[int, int]]:
    """The (case, seq) the child reported as committed; a line cut by the kill is ignored."""
    lines = output.split("\n")[:-1]
    return {(int(c), int(s)) for c, s in (line.split() for line in lines)}


def check_record(clinic: Clinic) -> set[tuple[int, int]]:
    """Check the record as the auditor would; return every (case, seq) it holds."""
    if clinic.engine.dialect.name == "sqlite":
        path = make_url(clinic.url).database
        with sqlite3.connect(str(path)) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert verify(clinic.db) == []
    with clinic.uow(write=False) as uow:
        rows = uow.connection.execute(select(tables.cases.c.id, tables.cases.c.facts)).all()
        held = {(case_id, seq) for case_id, seq, _, _ in uow.repo.entry_rows()}
        for case_id, facts in rows:
            assert facts != "{}", f"case {case_id} was half-opened"
            stored = CaseSnapshot.from_facts(json.loads(facts))
            replayed = replay([e for e, _ in uow.repo.entries(case_id)])
            assert replayed is not None and stored == replayed
    return held


@pytest.mark.slow
def test_a_process_killed_20_times_mid_logging_leaves_a_whole_record(
    clinic: Clinic, tmp_path: Path
) -> None:
    rng = random.Random(20261125)
    held: set[tuple[int, int]] = set()
    reported: set[tuple[int, int]] = set()
    for kill in range(KILLS):
        report = tmp_path / f"kill-{kill}.txt"
        child = start_child(clinic.url, str(kill), report)
        time.sleep(rng.uniform(0.0, 0.4))
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
        child.join(timeout=60)
        assert child.exitcode == -signal.SIGKILL
        reported |= committed_lines(report.read_text())

        now_held = check_record(clinic)
        assert held <= now_held, "an entry that was there before the kill is gone"
        assert reported <= now_held, "an entry whose commit returned is missing"
        held = now_held
    print(f"\ncrash on {clinic.engine.dialect.name}: {KILLS} kills, {len(held)} entries kept")
    assert len(held) > KILLS
