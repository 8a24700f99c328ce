"""`audit verify` over a whole generated record vs a raw floor that re-hashes every entry.

The floor is what a hand-written checker would do at the least: read every entry with plain
sqlite3, bring it to the canonical JSON form and SHA-256 it. `audit verify` does more (links,
seq, the replay of each case against its row) and must still be at least as fast.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from bmac_workflow.record import canonical
from bmac_workflow.services.verification import verify
from bmac_workflow.store.database import Database

from .common import Figure


def floor(path: Path) -> int:
    """Re-hash every entry's canonical form; returns how many did not match."""
    bad = 0
    db = sqlite3.connect(path)
    rows = db.execute("SELECT case_id, seq, body, hash FROM entries ORDER BY case_id, seq")
    for _case_id, _seq, body, stored in rows:
        if hashlib.sha256(canonical(json.loads(body)).encode()).hexdigest() != stored:
            bad += 1
    db.close()
    return bad


def ours(path: Path, workers: int | None = None) -> int:
    """`audit verify` of the whole record; returns the number of problems found."""
    db = Database.open(f"sqlite:///{path}")
    try:
        return len(verify(db, workers=workers))
    finally:
        db.dispose()


def measure(path: Path, entries: int, rounds: int = 2) -> tuple[list[Figure], list[str]]:
    """The verify figure (as `bmac audit verify` runs: parallel on a large record when there
    are cores to spare) and the same in one process, each the best of `rounds` alternating
    runs against the floor's best (page cache warm for all)."""
    runs: dict[str, Callable[[], int]] = {
        "ours": lambda: ours(path),
        "one process": lambda: ours(path, workers=1),
        "floor": lambda: floor(path),
    }
    best = dict.fromkeys(runs, float("inf"))
    found = dict.fromkeys(runs, 0)
    floor(path)
    for _ in range(rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            found[name] = run()
            best[name] = min(best[name], time.perf_counter() - start)
    notes = [f"{name} found {n} problems" for name, n in found.items() if n]
    label = "sqlite3+json+sha256"
    figures = [
        Figure(
            "audit_verify",
            best["ours"],
            "s",
            best["floor"],
            label,
            "speed",
            1.0,
            note=f"{entries} entries",
        ),
        Figure(
            "audit_verify_1proc",
            best["one process"],
            "s",
            best["floor"],
            label,
            "speed",
            None,
            note="the same, forced to one process (no target: for comparison)",
        ),
    ]
    return figures, notes
