"""A few runs of the real `bmac` process, as a nurse's terminal runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.walk import PINS

KIM = "731904"  # a new nurse's PIN, within the PIN rules


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bmac_workflow", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )


def test_the_demo_runs_a_full_case_and_exits_0() -> None:
    result = run("demo", env={})
    assert result.returncode == 0, result.stderr
    assert "inject" in result.stdout and "audit verify: clean" in result.stdout


def test_a_real_process_opens_a_case_and_reads_it_back(db_url: str) -> None:
    env = {"BMAC_DATABASE_URL": db_url, "BMAC_NEW_PIN": PINS["admin"]}
    first = run("operator", "add", "admin", "--name", "Admin", "--role", "admin", env=env)
    assert first.returncode == 0, first.stderr
    assert "the clinic's root key" in first.stdout
    signed = {**env, "BMAC_OPERATOR": "admin", "BMAC_PIN": PINS["admin"], "BMAC_NEW_PIN": KIM}
    added = run("operator", "add", "nurse.kim", "--name", "Kim", "--role", "nurse", env=signed)
    assert added.returncode == 0, added.stderr
    nurse = {**env, "BMAC_OPERATOR": "nurse.kim", "BMAC_PIN": KIM}
    opened = run("case", "open", "--patient", "P-7", "--knee", "right", env=nurse)
    assert opened.returncode == 0, opened.stderr
    case_id = opened.stdout.strip()
    # Reading signs in too: with the PIN here (as scripts do), or a session (`bmac login`).
    status = json.loads(run("case", "status", case_id, "--json", env=nurse).stdout)
    assert status["state"] == "imaging_assessment" and status["knee"] == "right"
    refused = run("case", "status", "77", env=nurse)
    assert refused.returncode == 3
    assert refused.stderr.startswith("error: ") and "Traceback" not in refused.stderr
    for pin in (PINS["admin"], KIM):
        assert all(pin not in out.stdout + out.stderr for out in (first, added, opened))
