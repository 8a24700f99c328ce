"""PostgreSQL: 8 worker processes logging steps on distinct cases at once, through the service
layer vs raw psycopg doing the same SQL shape (SELECT ... FOR UPDATE, UPDATE, INSERT, the trace
rows, COMMIT), each entry signed with the nurse's Ed25519 key on both sides (the floor as in
commit.py). Each side runs in a schema of its own, dropped afterwards; then every entry is
counted and the record verified (every signature): nothing lost, nothing duplicated. Each worker
signs in once before the start (one argon2 run at the real cost), outside the figure."""

from __future__ import annotations

import multiprocessing
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, make_url, text

from bmac_workflow.store.database import Database

from .commit import (
    FLOOR_INSERT,
    FLOOR_MATERIAL,
    NURSE_STEPS,
    FloorSigner,
    floor_rows,
    ours,
    prepare,
)
from .common import Figure
from .generate import NURSE, signed_in


@contextmanager
def schema(base_url: str, prefix: str) -> Iterator[tuple[str, str]]:
    """A fresh schema: (SQLAlchemy URL whose search_path is it, its name); dropped after."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{name}"'))
    sep = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{sep}options=-csearch_path%3D{name}", name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


def _conninfo(base_url: str) -> str:
    url = make_url(base_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def _run_ours(url: str, ids: list[int], barrier: Any, out: Any) -> None:
    engine = Database.open(url)
    with engine.read():
        pass
    step = ours(engine)
    barrier.wait()
    start, done, errors = time.perf_counter(), 0, []
    for trigger in NURSE_STEPS:
        for case_id in ids:
            try:
                step(case_id, trigger)
                done += 1
            except Exception as exc:  # a benchmark reports failures, it does not stop on them
                errors.append(f"{type(exc).__name__}: {exc}")
    out.put((done, time.perf_counter() - start, errors[:3]))
    engine.dispose()


def _run_floor(
    conninfo: str, schema_name: str, signer: FloorSigner, ids: list[int], barrier: Any, out: Any
) -> None:
    import psycopg

    conn = psycopg.connect(conninfo, options=f"-csearch_path={schema_name}")
    barrier.wait()
    start, done = time.perf_counter(), 0
    for trigger in NURSE_STEPS:
        for case_id in ids:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT facts, version, head_hash FROM cases WHERE id = %s FOR UPDATE",
                    (case_id,),
                )
                facts_text, version, head = cur.fetchone()  # type: ignore[misc]
                sql, update, insert, used = floor_rows(
                    case_id, trigger, signer, facts_text, version, head
                )
                cur.execute(sql.replace("?", "%s"), update)
                cur.execute(FLOOR_INSERT.replace("?", "%s"), insert)
                for row in used:
                    cur.execute(FLOOR_MATERIAL.replace("?", "%s"), row)
            conn.commit()
            done += 1
    out.put((done, time.perf_counter() - start, []))
    conn.close()


def _race(target: Any, args_for: list[tuple[Any, ...]]) -> tuple[int, float, list[str]]:
    """Start one process per argument tuple, release them together, wait for all."""
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(args_for) + 1)
    out = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, barrier, out)) for args in args_for]
    for proc in procs:
        proc.start()
    barrier.wait()
    start = time.perf_counter()
    results = [out.get() for _ in procs]
    wall = time.perf_counter() - start
    for proc in procs:
        proc.join()
    return sum(r[0] for r in results), wall, [e for r in results for e in r[2]]


def _check(url: str, expected: int) -> list[str]:
    """Entries lost or duplicated, and anything `audit verify` finds."""
    from bmac_workflow.services.verification import verify

    db = Database.open(url)
    with db.engine.connect() as conn:
        total, distinct = conn.execute(
            text("SELECT count(*), count(DISTINCT (case_id, seq)) FROM entries")
        ).one()
    problems = verify(db, full=True)
    db.dispose()
    notes = []
    if total != expected:
        notes.append(
            f"{expected - total} entries lost"
            if total < expected
            else f"{total - expected} entries too many"
        )
    if distinct != total:
        notes.append(f"{total - distinct} duplicated entries")
    if problems:
        notes.append(f"verify: {len(problems)} problems, first {problems[0]}")
    return notes


def measure(base_url: str, workers: int, cases_each: int) -> tuple[Figure, list[str]]:
    """The PostgreSQL figure: steps a second with `workers` processes, ours vs raw psycopg."""
    cases = workers * cases_each
    with (
        schema(base_url, "bench_app") as (app_url, _),
        schema(base_url, "bench_floor") as (floor_url, floor_schema),
    ):
        app_ids = prepare(app_url, cases)
        floor_ids = prepare(floor_url, cases)
        floor_db = Database.open(floor_url)
        signer = FloorSigner(signed_in(floor_db, NURSE))  # the floor's nurse, their own key
        floor_db.dispose()
        mine = _race(_run_ours, [(app_url, app_ids[w::workers]) for w in range(workers)])
        conninfo = _conninfo(base_url)
        base = _race(
            _run_floor,
            [(conninfo, floor_schema, signer, floor_ids[w::workers]) for w in range(workers)],
        )
        notes = [f"ours failed: {e}" for e in mine[2]]
        steps = cases * len(NURSE_STEPS)
        notes += _check(app_url, cases * 2 + steps)
    per_step = {"ours": mine[1] / max(mine[0], 1) * 1000, "floor": base[1] / max(base[0], 1) * 1000}
    lost = "0 lost, 0 duplicated" if not notes else "; ".join(notes)
    figure = Figure(
        "pg_8_workers",
        per_step["ours"],
        "ms/step",
        per_step["floor"],
        "raw psycopg",
        "speed",
        0.5,
        note=f"{workers} processes, {mine[0]} steps ({mine[0] / mine[1]:.0f}/s); {lost}",
    )
    return figure, notes
