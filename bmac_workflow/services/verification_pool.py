"""The worker processes of `audit verify` on a large record: each checks ranges of case ids and
reports, one JSON line per range, its problems and the heads of its entries signed before keys.
Forked on Linux (they start at once, with everything imported); fresh interpreters elsewhere.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, Any

from ..checks import Problem

if TYPE_CHECKING:
    from ..store.database import Database
    from .verification import Checked, Progress

Range = tuple[int | None, int | None]

_SPAWNED_WORKER = "from bmac_workflow.services.verification_pool import worker; worker()"

# Below this many entries a pool of processes costs more than it saves.
PARALLEL_MIN_ENTRIES = 60_000
_TICKET = 4  # bytes of a range number in the shared queue


def worker_count(workers: int | None) -> int:
    """How many processes verify (one per core available, at most four)."""
    if workers is not None:
        return workers
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(cores or 1, 4)


def parallel_ranges(db: Database, workers: int | None) -> list[Range]:
    """Case-id ranges to check in parallel, or none when one process is the better choice."""
    count_workers = worker_count(workers)
    if count_workers < 2 or db.in_memory():
        return []
    with db.read() as uow:
        count, low, high = uow.repo.entry_bounds()
    if count < PARALLEL_MIN_ENTRIES or low is None or high is None:
        return []
    # Small enough that the last range to finish leaves the other workers idle only briefly.
    pieces = count_workers * 16
    step = max(1, (high - low + 1) // pieces)
    bounds = [low + i * step for i in range(pieces)] + [high + 1]
    # The first and last ranges are open, so nothing outside [low, high] escapes the check.
    return [
        (None if i == 0 else bounds[i], None if i == pieces - 1 else bounds[i + 1] - 1)
        for i in range(pieces)
    ]


class Workers:
    """Worker processes checking their share of the ranges; `gather` waits for them."""

    def __init__(self, count: int, ranges: list[Range]) -> None:
        self.count = count
        self.ranges = ranges
        self.lines: queue.Queue[tuple[int, str | None]] = queue.Queue()
        self.waits: list[Callable[[], tuple[int, str]]] = []

    def gather(self, progress: Progress | None) -> Checked:
        """Their problems, in case order, once every worker is done."""
        from .verification import Checked

        results: dict[int, Checked] = {}
        running = self.count
        while running:
            _, line = self.lines.get()
            if line is None:
                running -= 1
                continue
            piece = json.loads(line)
            results[piece["piece"]] = Checked(
                [Problem(*p) for p in piece["problems"]],
                {int(c): (int(n), str(h)) for c, (n, h) in piece["legacy"].items()},
                {label: [(int(c), int(s)) for c, s in places]
                 for label, places in piece["specimens"].items()},
            )  # fmt: skip
            if progress:
                progress(piece["entries"])
        for wait in self.waits:
            code, errors = wait()
            if code != 0:
                last = (errors.strip().splitlines() or ["no message"])[-1]
                raise RuntimeError(f"a verify worker failed: {last}")
        if len(results) != len(self.ranges):
            raise RuntimeError("a verify worker stopped before checking its share of the record")
        found = Checked()
        for i in sorted(results):
            found.merge(results[i])
        return found


def start_workers(db: Database, ranges: list[Range], full: bool) -> Workers:
    """Start the processes that check the ranges; they run while the caller goes on. Forked
    workers take the next range from a shared queue as each finishes one (a pipe holding the
    range numbers: a read of one number is atomic), so a slow range does not leave a core
    idle; spawned ones take every `count`-th range."""
    count = min(worker_count(None), len(ranges))
    workers = Workers(count, ranges)
    forking = hasattr(os, "fork") and sys.platform == "linux"
    numbered = [[i, lo, hi] for i, (lo, hi) in enumerate(ranges)]
    tickets = None
    if forking:
        _warm()
        tickets = _ticket_queue(len(ranges))
    for k in range(count):
        mine = numbered if forking else numbered[k::count]
        job = {"url": db.url, "ranges": mine, "full": full, "tickets": tickets}
        out, wait = _forked(db, job) if forking else _spawned(db, job)
        workers.waits.append(wait)
        threading.Thread(target=_pump, args=(k, out, workers.lines), daemon=True).start()
    if tickets is not None:
        os.close(tickets)
    return workers


def _ticket_queue(count: int) -> int:
    """A pipe's reading end holding the numbers 0..count-1 (4 bytes each), its writing end
    closed: forked workers read one number at a time until it is empty."""
    read_end, write_end = os.pipe()
    # Written whole before any worker reads (a few hundred bytes: far below the pipe's buffer).
    os.write(write_end, b"".join(i.to_bytes(_TICKET, "big") for i in range(count)))
    os.close(write_end)
    return read_end


def _tickets(job: dict[str, Any]) -> Iterator[list[Any]]:
    """The ranges this worker checks: taken from the shared queue, or its own list."""
    if job.get("tickets") is None:
        yield from job["ranges"]
        return
    while len(ticket := os.read(job["tickets"], _TICKET)) == _TICKET:
        yield job["ranges"][int.from_bytes(ticket, "big")]


def _warm() -> None:
    """Import, once before forking, what checking a range loads on first use (the steps' data
    models, the signature library), rather than once in each worker."""
    import nacl.bindings  # noqa: F401

    from ..states import workflow

    for step in workflow().steps:
        _ = step.model


def _forked(db: Database, job: dict[str, Any]) -> tuple[IO[str], Callable[[], tuple[int, str]]]:
    """A worker forked from this process: it starts at once, with the package imported. The
    child leaves the parent's pooled connections alone (SQLAlchemy's `dispose(close=False)`),
    opens its own, writes only to its pipes and ends with `os._exit` (no atexit handlers, no
    buffers of the parent flushed twice)."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child; its work is what the parent reads back
        code = 1
        try:
            os.close(out_r)
            os.close(err_r)
            db.engine.dispose(close=False)
            with open(out_w, "w", encoding="utf-8") as out:
                _work(db, job, out)
            code = 0
        except BaseException as exc:
            os.write(err_w, f"{type(exc).__name__}: {exc}\n".encode())
        finally:
            os._exit(code)
    os.close(out_w)
    os.close(err_w)

    def wait() -> tuple[int, str]:
        with open(err_r, encoding="utf-8", errors="replace") as err:
            errors = err.read()
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), errors

    return open(out_r, encoding="utf-8"), wait


def _spawned(db: Database, job: dict[str, Any]) -> tuple[IO[str], Callable[[], tuple[int, str]]]:
    """A worker in a fresh interpreter (where there is no fork)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _SPAWNED_WORKER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    # The URL goes through a pipe, never the command line: it may carry a password.
    proc.stdin.write(json.dumps(job))
    proc.stdin.close()

    def wait() -> tuple[int, str]:
        assert proc.stderr is not None
        errors = proc.stderr.read()
        return proc.wait(), errors

    return proc.stdout, wait


def _pump(k: int, out: IO[str], lines: queue.Queue[tuple[int, str | None]]) -> None:
    with out:
        for line in out:
            lines.put((k, line))
    lines.put((k, None))


def worker() -> None:
    """A spawned verify worker: reads {url, ranges, full} on stdin, prints one JSON line per
    range."""
    from ..store.database import Database

    job = json.loads(sys.stdin.read())
    db = Database.open(job["url"], check_schema=False)
    _work(db, job, sys.stdout)


def _work(db: Database, job: dict[str, Any], out: IO[str]) -> None:
    from .verification import check_range, context_of

    with db.read() as uow:
        context, _ = context_of(uow, job["full"])
    for piece, low, high in _tickets(job):
        counted = [0]

        def count(n: int, counted: list[int] = counted) -> None:
            counted[0] += n

        with db.read() as uow:
            checked = check_range(uow, context, None, low, high, count)
        found = {
            "piece": piece,
            "entries": counted[0],
            "problems": [[p.case_id, p.seq, p.what] for p in checked.problems],
            "legacy": {str(c): list(h) for c, h in checked.legacy.items()},
            "specimens": checked.specimens,
        }
        out.write(json.dumps(found) + "\n")
        out.flush()
    db.dispose()
