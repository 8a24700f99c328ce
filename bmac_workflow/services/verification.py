"""`audit verify`: every case's chain, case row and worklist checked against a replay of its log,
on a large record by several worker processes.

The checks themselves are pure (checks.py); this module reads the record through the
repository, one range of case ids at a time, and runs the worker pool.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..checks import Problem, check_case_row, check_chain
from ..store.audit_rows import grouped

if TYPE_CHECKING:
    from ..store.database import Database
    from ..store.unit_of_work import UnitOfWork

Progress = Callable[[int], None]
Range = tuple[int | None, int | None]

# Below this many entries a pool of processes costs more than it saves.
PARALLEL_MIN_ENTRIES = 60_000


def verify(
    db: Database,
    case_id: int | None = None,
    progress: Progress | None = None,
    *,
    workers: int | None = None,
) -> list[Problem]:
    """Every problem in the record (or in one case): hashes, seq, links, case rows vs replay.

    A large record on a machine with several cores is checked by `workers` processes (default:
    one per core, at most four), each over a range of case ids; the problems come back in
    case order all the same.
    """
    if case_id is None:
        ranges = _parallel_ranges(db, worker_count(workers))
        if ranges:
            return _verify_parallel(db, ranges, progress)
    with db.read() as uow:
        return check_range(uow, case_id, None, None, progress)


def worker_count(workers: int | None) -> int:
    """How many processes verify (one per core available, at most four)."""
    if workers is not None:
        return workers
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(cores or 1, 4)


def _parallel_ranges(db: Database, workers: int) -> list[Range]:
    """Case-id ranges to check in parallel, or none when one process is the better choice."""
    if workers < 2 or db.in_memory():
        return []
    with db.read() as uow:
        count, low, high = uow.repo.entry_bounds()
    if count < PARALLEL_MIN_ENTRIES or low is None or high is None:
        return []
    pieces = workers * 4
    step = max(1, (high - low + 1) // pieces)
    bounds = [low + i * step for i in range(pieces)] + [high + 1]
    # The first and last ranges are open, so nothing outside [low, high] escapes the check.
    return [
        (None if i == 0 else bounds[i], None if i == pieces - 1 else bounds[i + 1] - 1)
        for i in range(pieces)
    ]


def _verify_parallel(db: Database, ranges: list[Range], progress: Progress | None) -> list[Problem]:
    """Check the ranges in worker processes (fresh interpreters: nothing of this process, its
    threads or its __main__ is copied) and gather their problems in case order."""
    import queue
    import subprocess
    import sys
    import threading

    workers = min(worker_count(None), len(ranges))
    lines: queue.Queue[tuple[int, str | None]] = queue.Queue()
    procs = []
    for k in range(workers):
        mine = [[i, lo, hi] for i, (lo, hi) in enumerate(ranges) if i % workers == k]
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from bmac_workflow.services.verification import worker; worker()",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdin is not None
        # The URL goes through a pipe, never the command line: it may carry a password.
        proc.stdin.write(json.dumps({"url": db.url, "ranges": mine}))
        proc.stdin.close()
        procs.append(proc)
        threading.Thread(target=_pump, args=(k, proc, lines), daemon=True).start()
    results: dict[int, list[Problem]] = {}
    running = workers
    while running:
        _, line = lines.get()
        if line is None:
            running -= 1
            continue
        piece = json.loads(line)
        results[piece["piece"]] = [Problem(*p) for p in piece["problems"]]
        if progress:
            progress(piece["entries"])
    for proc in procs:
        assert proc.stderr is not None
        if proc.wait() != 0:
            last = (proc.stderr.read().strip().splitlines() or ["no message"])[-1]
            raise RuntimeError(f"a verify worker failed: {last}")
    if len(results) != len(ranges):
        raise RuntimeError("a verify worker stopped before checking its share of the record")
    return [problem for i in sorted(results) for problem in results[i]]


def _pump(k: int, proc: Any, lines: Any) -> None:
    for line in proc.stdout:
        lines.put((k, line))
    lines.put((k, None))


def worker() -> None:
    """A verify worker: reads {url, ranges} on stdin, prints one JSON line per range checked."""
    import sys

    from ..store.database import Database

    job = json.loads(sys.stdin.read())
    db = Database.open(job["url"], check_schema=False)
    for piece, low, high in job["ranges"]:
        counted = [0]

        def count(n: int, counted: list[int] = counted) -> None:
            counted[0] += n

        with db.read() as uow:
            problems = check_range(uow, None, low, high, count)
        out = {
            "piece": piece,
            "entries": counted[0],
            "problems": [[p.case_id, p.seq, p.what] for p in problems],
        }
        print(json.dumps(out), flush=True)
    db.dispose()


def check_range(
    uow: UnitOfWork,
    case_id: int | None,
    low: int | None,
    high: int | None,
    progress: Progress | None,
) -> list[Problem]:
    """The check of one case, or of the cases whose ids lie in [low, high] (open ends)."""
    problems: list[Problem] = []
    repo = uow.repo
    rows_by_id = repo.case_rows_for_audit(case_id, low, high)
    due_by_id = repo.due_rows_by_case(case_id, low, high)
    seen: set[int] = set()
    for cid, rows in grouped(repo.entry_rows(case_id, low, high)):
        seen.add(cid)
        chain_problems, entries, head = check_chain(cid, rows)
        problems += chain_problems
        row = rows_by_id.get(cid)
        worklist = None
        if row is not None:
            worklist = (repo.protocol(row.protocol_id), due_by_id.pop(cid, set()))
        problems += check_case_row(row, cid, entries, head, worklist)
        if progress:
            progress(len(rows))
    for cid, row in sorted(rows_by_id.items()):
        if cid not in seen and row.version > 0:
            problems.append(Problem(cid, None, "case row has no entries in the log"))
    for cid in sorted(set(due_by_id) - seen):
        problems.append(Problem(cid, None, "follow-up worklist lists a case with no log"))
    return problems
