"""Trace: `bmac trace lot LOT` on the scale clinic (its cases spread over `generate.LOTS` kit
lots), in-process on a warm engine, against the same SELECT through plain sqlite3 with the
case rows' JSON parsed. The figure is the 95th percentile over lots drawn at random."""

from __future__ import annotations

import json
import random
import sqlite3
import time
from pathlib import Path

from bmac_workflow.services.trace import trace
from bmac_workflow.store.database import Database

from .common import Figure

QUERY = (
    "SELECT m.case_id, m.seq, m.action, m.at, c.facts FROM case_materials m "
    "JOIN cases c ON c.id = m.case_id WHERE m.kind = ? AND m.ref = ? AND m.at >= ? "
    "ORDER BY m.case_id, m.seq"
)


def _p95_ms(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000


def measure(path: Path, runs: int) -> Figure:
    """The p95 of `trace lot` over `runs` random lots, with the raw SQL floor of the same lots."""
    from .generate import LOTS

    database = Database.open(f"sqlite:///{path}")
    db = sqlite3.connect(path)
    lots = [f"K-{random.Random(n).randrange(LOTS):04d}" for n in range(max(runs, 20))]
    ours, floor, rows = [], [], 0
    trace("lot", lots[0], database)  # warm the engine and the statement cache
    for lot in lots:
        start = time.perf_counter()
        rows += len(trace("lot", lot, database))
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        [json.loads(r[4]) for r in db.execute(QUERY, ("lot", lot, "")).fetchall()]
        floor.append(time.perf_counter() - start)
    cases = db.execute("SELECT count(*) FROM cases").fetchone()[0]
    db.close()
    database.dispose()
    return Figure(
        "trace_lot",
        _p95_ms(ours),
        "ms",
        _p95_ms(floor),
        "raw SQL",
        "limit",
        50.0,
        note=f"p95 of {len(lots)} lots, {rows / len(lots):.0f} steps each, {cases} cases, "
        f"{LOTS} kit lots",
    )
