"""`benchmarks/run.py` runs end to end at a tiny size and prints every figure (no timing asserted:
the numbers are for people to read, README "Performance")."""

from __future__ import annotations

import json
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


def bmac(url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The real `bmac`, in a process of its own (the real argon2 costs, no test fixture)."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "BMAC_DATABASE_URL": url, **env}
    return subprocess.run(
        [sys.executable, "-m", "bmac_workflow", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
        check=False,
    )


def test_the_generated_clinic_passes_the_real_audit_and_its_operators_sign(
    tmp_path: Path,
) -> None:
    from benchmarks.generate import AUDITOR, NURSE, OPERATORS, PIN, build

    built = build(tmp_path / "clinic.sqlite3", cases=30, entries=450, workers=1)
    assert built.entries == 450
    assert sum(len(ids) for ids in built.case_ids.values()) == 30
    url = f"sqlite:///{built.path}"
    # Reading needs a sign-in (issue 16): the auditor's, with their PIN, as a script does.
    auditor = {"BMAC_OPERATOR": AUDITOR.id, "BMAC_PIN": PIN}
    full = bmac(url, "audit", "verify", "--full", **auditor)
    assert full.returncode == 0, full.stdout + full.stderr
    assert "record verified: 450 entries" in full.stdout
    assert "and every step, role and signature holds" in full.stdout
    listed = bmac(url, "operator", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert {o["id"] for o in json.loads(listed.stdout)} == {o.id for o in OPERATORS}
    # The generated operators sign with their PIN, and what they sign verifies too.
    opened = bmac(
        url, "case", "open", "--patient", "P-NEW", "--knee", "left",
        BMAC_OPERATOR=NURSE.id, BMAC_PIN=PIN,
    )  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    again = bmac(url, "audit", "verify", "--full", **auditor)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "record verified: 451 entries" in again.stdout
