"""The web board and JSON API, server-side: in-process ASGI calls to `bmac serve`'s app.

Each figure is the p95 of the wall time of one call of the app (routing, the session check,
the read, the access-log entry and its commit, rendering, the whole response body), driven
on one event loop with no network, a signed-in session's cookie on every request, each
request 10 s after the one before (the board's refresh period). Its floor, measured in the
same run, is the same SELECTs through plain sqlite3 (rows' JSON parsed where ours parses
it), p95 too: for the board, the three reads a view makes once the board has seen every case
at its version (the cases in flight from the (state, id, version) index, the worklist, the
open deviations); the first view, which reads every case in flight in full, is in the note.
The access log's overhead per read is `GET /api/cases/{id}` with its entry appended minus the
same read without (the session still checked), medians; its floor is the least such an entry
needs in raw sqlite3 (BEGIN IMMEDIATE, the chain's head, the INSERT with canonical JSON and
SHA-256, the session's last use, COMMIT, with the same pragmas). The access log holds an entry per
case (up to 100k) before the run, and must verify after it.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import itertools
import json
import sqlite3
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bmac_workflow.access import Access
from bmac_workflow.record import GENESIS, canonical, digest
from bmac_workflow.services import access as access_service
from bmac_workflow.services.board import in_flight
from bmac_workflow.services.sessions import login
from bmac_workflow.sessions import WEB
from bmac_workflow.store.database import Database
from bmac_workflow.timeutil import iso

from .common import Figure
from .generate import NURSE, Built, credentials

# An access log as a clinic has it after a while: so many entries before the run.
SEEDED_ACCESS = 100_000


def seed_access(path: Path, entries: int, now: datetime) -> None:
    """Append chained access-log entries (one case each) with raw sqlite3 until the log holds
    `entries`, so that it is not empty when it is timed; `audit verify` accepts them."""
    db = sqlite3.connect(path, isolation_level=None)
    head = db.execute("SELECT seq, hash FROM access_log ORDER BY seq DESC LIMIT 1").fetchone()
    seq, previous = (int(head[0]), str(head[1])) if head else (0, GENESIS)
    entries -= seq
    cases = db.execute("SELECT id, patient_ref FROM cases ORDER BY id").fetchall()
    start = now - timedelta(days=30)
    rows = []
    for index in range(entries):
        case_id, patient = cases[index % len(cases)]
        seq += 1
        at = iso(start + timedelta(seconds=index))
        entry = Access(seq, at, NURSE.id, "cli", "case status", (case_id,), (patient,), None,
                       previous)  # fmt: skip
        body = entry.body()
        previous = digest(body)
        rows.append((seq, at, NURSE.id, entry.what, body, previous))
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO access_log (seq, at, operator_id, what, body, hash) VALUES (?,?,?,?,?,?)",
        rows,
    )
    db.execute("COMMIT")
    db.close()


class Caller:
    """Calls an ASGI app in-process on one event loop and times each call."""

    def __init__(self, app: Any, cookie: str) -> None:
        self.app = app
        self.cookie = cookie
        self.loop = asyncio.new_event_loop()

    def get(self, path: str) -> tuple[int, bytes]:
        """GET `path` with the session cookie: (status, body)."""
        return self.loop.run_until_complete(self._get(path))

    async def _get(self, path: str) -> tuple[int, bytes]:
        route, _, query = path.partition("?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": route,
            "raw_path": route.encode(),
            "root_path": "",
            "query_string": query.encode(),
            "headers": [
                (b"host", b"bench"),
                (b"cookie", f"bmac_session={self.cookie}".encode()),
            ],
            "client": ("127.0.0.1", 50000),
            "server": ("bench", 80),
        }
        status = 0
        body: list[bytes] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                body.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(body)

    def times(self, path: str, runs: int) -> list[float]:
        """The ms of each of `runs` calls, after one warm-up (each must answer 200)."""
        self.check(path)
        found = []
        for _ in range(runs):
            start = time.perf_counter()
            status, _ = self.get(path)
            found.append((time.perf_counter() - start) * 1000)
            if status != 200:
                raise SystemExit(f"GET {path}: {status}")
        return found

    def check(self, path: str) -> bytes:
        status, body = self.get(path)
        if status != 200:
            raise SystemExit(f"GET {path}: {status} {body[:300]!r}")
        return body

    def close(self) -> None:
        self.loop.close()


def p95(times: list[float]) -> float:
    """The 95th percentile (the nearest rank)."""
    ordered = sorted(times)
    return ordered[max(0, -(-len(ordered) * 95 // 100) - 1)]


def timed(func: Callable[[], Any], runs: int) -> list[float]:
    """The ms of each of `runs` calls of `func`, after one warm-up."""
    func()
    found = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        found.append((time.perf_counter() - start) * 1000)
    return found


@contextmanager
def unlogged() -> Iterator[None]:
    """Reads that append nothing to the access log (the overhead's baseline): the session is
    still checked and the read made."""
    from bmac_workflow.services import board, reads

    def nothing(*_args: Any, **_kwargs: Any) -> None:
        return None

    saved = (reads.log_view, board.log_view, access_service.log_view)
    reads.log_view = board.log_view = access_service.log_view = nothing  # type: ignore[assignment]
    try:
        yield
    finally:
        reads.log_view, board.log_view, access_service.log_view = saved


class Floors:
    """The same reads as the routes, in plain sqlite3: what no web app can do without."""

    def __init__(self, path: Path, now: datetime) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = FULL")
        self.states = in_flight()
        self.horizon = iso(now + timedelta(days=8))

    def board(self) -> None:
        marks = ",".join("?" * len(self.states))
        self.db.execute(
            f"SELECT id, version FROM cases WHERE state IN ({marks}) AND version > 0 ORDER BY id",
            self.states,
        ).fetchall()
        self.db.execute(
            "SELECT case_id, visit, due_at, patient_ref, knee FROM due_visits "
            "WHERE due_at < ? ORDER BY due_at, case_id, visit",
            (self.horizon,),
        ).fetchall()
        self.db.execute(
            "SELECT d.id, d.case_id, d.seq, d.kind, d.opened_at, d.opened_by, c.patient_ref "
            "FROM deviations d JOIN cases c ON c.id = d.case_id WHERE d.closed_seq IS NULL "
            "ORDER BY d.id"
        ).fetchall()

    def cases(self) -> None:
        rows = self.db.execute(
            "SELECT facts, protocol_id FROM cases WHERE version > 0 ORDER BY id DESC LIMIT 50"
        ).fetchall()
        [json.loads(r[0]) for r in rows]
        self.db.execute("SELECT count(*) FROM cases WHERE version > 0").fetchone()

    def case_page(self, case_id: int) -> None:
        (facts,) = self.db.execute("SELECT facts FROM cases WHERE id = ?", (case_id,)).fetchone()
        json.loads(facts)
        rows = self.db.execute(
            "SELECT body, hash FROM entries WHERE case_id = ? ORDER BY seq", (case_id,)
        ).fetchall()
        [json.loads(r[0]) for r in rows]
        self.db.execute("SELECT id, seq FROM deviations WHERE case_id = ?", (case_id,)).fetchall()
        self.db.execute(
            "SELECT body FROM access_log WHERE what = 'audit verify' ORDER BY seq DESC LIMIT 1"
        ).fetchone()

    def log_entry(self, session_id: str, at: str, case_id: int, patient: str) -> None:
        """One access-log entry as the least it needs: the head, the INSERT, the session's last
        use, one commit."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        seq, previous = db.execute(
            "SELECT seq, hash FROM access_log ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        body = canonical(
            {"at": at, "cases": [case_id], "channel": "api", "operator": NURSE.id,
             "patients": [patient], "prev_hash": previous, "seq": seq + 1, "what": "case status"}
        )  # fmt: skip
        db.execute(
            "INSERT INTO access_log (seq, at, operator_id, what, body, hash) VALUES (?,?,?,?,?,?)",
            (seq + 1, at, NURSE.id, "case status", body, hashlib.sha256(body.encode()).hexdigest()),
        )
        db.execute("UPDATE sessions SET last_seen_at = ? WHERE id = ?", (at, session_id))
        db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()


def measure(built: Built, runs: int, now: datetime) -> list[Figure]:
    """The board, the API's list, a case page, and the access log's overhead per read."""
    from bmac_workflow.web.app import create_app

    path = built.path
    seed_access(path, min(SEEDED_ACCESS, built.cases), now)
    database = Database.open(f"sqlite:///{path}")
    opened = login(credentials(NURSE), WEB, now, database)
    # Each request comes 10 s after the one before (the board's refresh period): the minutes
    # on the board move as in a clinic, and the board cannot serve a minute it made already.
    ticks = iter(now + timedelta(seconds=10 * n) for n in itertools.count())
    caller = Caller(create_app(database, lambda: next(ticks)), opened.key.token())
    gc.freeze()  # as `bmac serve` does once its app is made
    floors = Floors(path, now)
    flying = sum(len(built.case_ids.get(state, [])) for state in floors.states)
    (case_id, patient, entries) = floors.db.execute(
        "SELECT id, patient_ref, version FROM cases ORDER BY version DESC, id LIMIT 1"
    ).fetchone()
    due = len(json.loads(caller.check("/api/followups/due?within=7d")))
    try:
        start = time.perf_counter()
        caller.check("/")
        first = (time.perf_counter() - start) * 1000
        board = caller.times("/", runs)
        board_floor = timed(floors.board, runs)
        listed = caller.times("/api/cases", runs)
        listed_floor = timed(floors.cases, runs)
        page = caller.times(f"/cases/{case_id}", runs)
        page_floor = timed(lambda: floors.case_page(case_id), runs)
        status_path = f"/api/cases/{case_id}"
        logged, bare = [], []
        # Alternating blocks, so that the machine's mood hits both alike.
        for _ in range(4):
            logged += caller.times(status_path, max(1, runs // 2))
            with unlogged():
                bare += caller.times(status_path, max(1, runs // 2))
        at = iso(now)
        entry_floor = timed(
            lambda: floors.log_entry(opened.key.session_id, at, case_id, patient), runs
        )
    finally:
        caller.close()
        floors.close()
    with database.read() as uow:
        problems = access_service.access_problems(uow)
        logged_in_all = len(uow.repo.access_rows())
    database.dispose()
    if problems:
        raise SystemExit(f"the access log does not verify: {problems[0]}")
    overhead = statistics.median(logged) - statistics.median(bare)
    return [
        Figure("web_board", p95(board), "ms", p95(board_floor), "raw SQL", "limit", 50.0,
               note=f"GET /, p95 of {runs}: {flying} cases in flight of {built.cases}, "
               f"{due} visits due; first view {first:.3g} ms"),
        Figure("web_api_cases", p95(listed), "ms", p95(listed_floor), "raw SQL", "limit", 50.0,
               note=f"GET /api/cases, p95 of {runs}: first page of {built.cases}"),
        Figure("web_case_page", p95(page), "ms", p95(page_floor), "raw SQL", "limit", 20.0,
               note=f"GET /cases/{case_id}, p95 of {runs}: {entries} entries"),
        Figure("access_log_overhead", overhead, "ms",
               statistics.median(entry_floor), "raw sqlite3 append", "limit", 5.0,
               note=f"GET {status_path}: {statistics.median(logged):.3g} ms logged, "
               f"{statistics.median(bare):.3g} ms not; access log of {logged_in_all} entries"),
    ]  # fmt: skip
