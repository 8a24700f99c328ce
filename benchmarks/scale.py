"""Scale: generate a big clinic, then time the reading commands in-process against raw SQL.

The query figures are the service calls behind `case list --state S` (its first page),
`case timeline CASE` and `followup due`, on a warm engine, median of repeated runs. The floor
of each is the same SELECT through plain sqlite3 (with the rows' JSON parsed where ours
parses it), for scale.
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime, time, timedelta
from pathlib import Path

from bmac_workflow.services.queries import due, list_cases, timeline
from bmac_workflow.store.database import Database
from bmac_workflow.timeutil import iso, utcnow

from .common import Figure, median_ms
from .generate import Built, build


def generate(path: Path, cases: int, entries: int) -> tuple[Figure, Built]:
    """Build the clinic; the figure is the generator's wall time against its two minutes."""
    built = build(path, cases, entries)
    full = entries >= 1_500_000
    figure = Figure(
        "generate",
        built.seconds,
        "s",
        None,
        "",
        "limit" if full else "info",
        120.0 if full else None,
        note=f"{built.cases} cases, {built.entries} entries, valid chains"
        + ("" if full else "; the 120 s target is for 1.5M entries"),
    )
    return figure, built


def _largest_state(built: Built) -> str:
    return max(built.case_ids, key=lambda state: len(built.case_ids[state]))


def _longest_case(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT id FROM cases ORDER BY version DESC, id LIMIT 1").fetchone()[0])


def measure(built: Built, runs: int) -> list[Figure]:
    """Query figures and the database's size per 1k entries."""
    path = built.path
    database = Database.open(f"sqlite:///{path}")
    db = sqlite3.connect(path)
    state = _largest_state(built)
    case_id = _longest_case(db)
    now = utcnow()
    # As `followup due --within 7d` draws it: the end of the clinic's local day, 7 days on.
    last_day = (now + timedelta(days=7)).astimezone().date() + timedelta(days=1)
    horizon = iso(datetime.combine(last_day, time.min, tzinfo=now.astimezone().tzinfo))

    def list_first_page() -> None:
        list_cases(state, 50, 1, now, database)

    def list_floor() -> None:
        rows = db.execute(
            "SELECT facts, protocol_id FROM cases WHERE state = ? AND version > 0 "
            "ORDER BY id DESC LIMIT 50",
            (state,),
        ).fetchall()
        [json.loads(r[0]) for r in rows]
        db.execute("SELECT count(*) FROM cases WHERE state = ?", (state,)).fetchone()

    def timeline_ours() -> None:
        timeline(case_id, database)

    def timeline_floor() -> None:
        rows = db.execute(
            "SELECT body, hash FROM entries WHERE case_id = ? ORDER BY seq", (case_id,)
        ).fetchall()
        [json.loads(r[0]) for r in rows]

    def due_ours() -> None:
        due(timedelta(days=7), now, database)

    def due_floor() -> None:
        db.execute(
            "SELECT case_id, patient_ref, knee, visit, due_at FROM due_visits "
            "WHERE due_at < ? ORDER BY due_at, case_id",
            (horizon,),
        ).fetchall()

    due_rows = len(due(timedelta(days=7), now, database))
    figures = [
        Figure(
            "case_list_state",
            median_ms(list_first_page, runs),
            "ms",
            median_ms(list_floor, runs),
            "raw SQL",
            "limit",
            50.0,
            note=f"--state {state}: first page of {len(built.case_ids[state])}",
        ),
        Figure(
            "case_timeline",
            median_ms(timeline_ours, runs),
            "ms",
            median_ms(timeline_floor, runs),
            "raw SQL",
            "limit",
            20.0,
            note=f"case {case_id}",
        ),
        Figure(
            "followup_due",
            median_ms(due_ours, runs),
            "ms",
            median_ms(due_floor, runs),
            "raw SQL",
            "limit",
            100.0,
            note=f"--within 7d: {due_rows} visits",
        ),
    ]
    db.close()
    database.dispose()
    size = sum(os.path.getsize(p) for p in path.parent.glob(path.name + "*"))
    figures.append(
        Figure(
            "db_size_per_1k",
            size / 1024 / (built.entries / 1000),
            "KiB",
            None,
            "",
            "info",
            None,
            note=f"{size / 2**20:.0f} MiB for {built.entries} entries",
        )
    )
    return figures
