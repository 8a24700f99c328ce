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
from pathlib import Path

from bmac_workflow.audit import verify
from bmac_workflow.record import canonical
from bmac_workflow.store.engine import make_engine
from bmac_workflow.store.unit_of_work import UnitOfWork

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


def ours(path: Path) -> int:
    """`audit verify` of the whole record; returns the number of problems found."""
    engine = make_engine(f"sqlite:///{path}")
    try:
        return len(verify(UnitOfWork(engine)))
    finally:
        engine.dispose()


def measure(path: Path, entries: int, rounds: int = 2) -> tuple[Figure, list[str]]:
    """The verify figure: the best of `rounds` alternating runs of each (warm page cache)."""
    best = {"ours": float("inf"), "floor": float("inf")}
    found = {"ours": 0, "floor": 0}
    floor(path)  # warm the page cache for both
    for _ in range(rounds):
        for name, run in (("ours", ours), ("floor", floor)):
            start = time.perf_counter()
            found[name] = run(path)
            best[name] = min(best[name], time.perf_counter() - start)
    notes = [f"{name} found {n} problems" for name, n in found.items() if n]
    figure = Figure(
        "audit_verify",
        best["ours"],
        "s",
        best["floor"],
        "sqlite3+json+sha256",
        "speed",
        1.0,
        note=f"{entries} entries",
    )
    return figure, notes
