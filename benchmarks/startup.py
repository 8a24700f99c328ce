"""Process start: `bmac --help` and `bmac case status CASE` vs bare interpreters importing the
libraries they cannot do without, median of alternating runs.

`case status` reads as a signed-in operator does since issue 16: in a session `bmac login`
opened once before the runs (its argon2 run untimed), so each run checks the session and
appends its read to the access log, as a nurse's `case status` does."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import Figure


def _bmac() -> str:
    script = Path(sys.executable).parent / "bmac"
    if not script.exists():
        raise SystemExit(f"no bmac next to {sys.executable}: pip install -e . in this venv")
    return str(script)


def _once(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    spent = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.strip()}")
    return spent * 1000


def compare(
    name: str,
    argv: list[str],
    floor_argv: list[str],
    floor_label: str,
    target: float,
    runs: int,
    env: dict[str, str],
) -> Figure:
    """Median wall time of `argv` vs `floor_argv`, run alternately after one warm-up each."""
    _once(argv, env)
    _once(floor_argv, env)
    mine, base = [], []
    for _ in range(runs):
        mine.append(_once(argv, env))
        base.append(_once(floor_argv, env))
    return Figure(
        name,
        statistics.median(mine),
        "ms",
        statistics.median(base),
        floor_label,
        "time",
        target,
        note=f"median of {runs}",
    )


def signed_in(env: dict[str, str]) -> dict[str, str]:
    """`env` with a reading session of the generated clinic's nurse (`bmac login`, once), in a
    session folder of its own."""
    from .generate import NURSE, PIN

    env = {**env, "BMAC_SESSION_DIR": tempfile.mkdtemp(prefix="bmac-bench-session-")}
    _once([_bmac(), "login"], {**env, "BMAC_OPERATOR": NURSE.id, "BMAC_PIN": PIN})
    return env


def measure(db_url: str, case_id: int, runs: int) -> list[Figure]:
    """Both process-start figures; `db_url` holds a real case `case_id`."""
    env = {**os.environ, "BMAC_DATABASE_URL": db_url}
    env.pop("BMAC_OPERATOR", None)
    env.pop("BMAC_PIN", None)
    reading = signed_in(env)
    python = sys.executable
    try:
        return [
            compare(
                "start_help",
                [_bmac(), "--help"],
                [python, "-c", "import click"],
                "python -c 'import click'",
                1.5,
                runs,
                env,
            ),
            compare(
                "start_case_status",
                [_bmac(), "case", "status", str(case_id)],
                [python, "-c", "import click, sqlalchemy.orm, transitions"],
                "python -c 'import click, sqlalchemy.orm, transitions'",
                1.3,
                runs,
                reading,
            ),
        ]
    finally:
        shutil.rmtree(reading["BMAC_SESSION_DIR"], ignore_errors=True)
