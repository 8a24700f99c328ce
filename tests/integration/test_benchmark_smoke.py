"""`benchmarks/run.py` runs end to end at a tiny size and prints every figure (no timing asserted:
the numbers are for people to read, README "Performance")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from benchmarks.run import FIGURES

ROOT = Path(__file__).resolve().parents[2]


def test_the_benchmark_prints_every_figure_with_its_floor_at_a_tiny_size(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--tiny", "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("FIGURE ")]
    printed = {line.split()[1] for line in lines}
    assert printed == set(FIGURES), done.stdout
    for line in lines:
        name = line.split()[1]
        if "skipped:" in line:
            # Only PostgreSQL may be skipped, and only without a server to measure against.
            assert name == "pg_8_workers" and not os.environ.get("BMAC_TEST_POSTGRES_URL")
        elif name not in ("generate", "db_size_per_1k", "audit_verify_1proc"):
            assert " floor " in line and " ratio " in line and "x " in line, line
    assert "note:" not in done.stdout, done.stdout  # nothing lost, no verify problem
    assert done.stdout.splitlines()[-1].startswith("TARGETS "), done.stdout


def test_the_generated_clinic_passes_the_real_audit(tmp_path: Path) -> None:
    from benchmarks.generate import build
    from bmac_workflow.services.verification import verify
    from bmac_workflow.store.database import Database

    built = build(tmp_path / "clinic.sqlite3", cases=30, entries=450, workers=1)
    db = Database.open(f"sqlite:///{built.path}")
    try:
        assert verify(db) == []
    finally:
        db.dispose()
    assert built.entries == 450
    assert sum(len(ids) for ids in built.case_ids.values()) == 30
