"""Audit: verify the hash chains and the case rows against a replay of the log; checkpoints."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import MISSING, dataclass, fields
from typing import Any

from sqlalchemy import Connection, func, select

from .protocol import Protocol
from .record import GENESIS, CaseSnapshot, Entry, canonical, digest, fold
from .rules import visits_due
from .store.models import CaseRow, DueVisitRow, EntryRow
from .store.repository import due_visit_row
from .store.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Problem:
    """One thing wrong in the record: which case, which entry, what."""

    case_id: int
    seq: int | None
    what: str

    def __str__(self) -> str:
        where = f"case {self.case_id}" + (f", seq {self.seq}" if self.seq is not None else "")
        return f"{where}: {self.what}"


Progress = Callable[[int], None]


def check_chain(
    case_id: int, rows: Iterable[tuple[int, str, str]]
) -> tuple[list[Problem], list[Entry], str]:
    """Check one case's entries (seq, body, hash): contiguous seq, hashes, links. Returns the
    problems, the parsed entries and the hash of the last entry."""
    problems: list[Problem] = []
    entries: list[Entry] = []
    expected_seq, previous = 1, GENESIS
    for seq, body, stored_hash in rows:
        if seq != expected_seq:
            what = f"entry {expected_seq} is missing" if seq > expected_seq else "seq repeated"
            problems.append(Problem(case_id, expected_seq if seq > expected_seq else seq, what))
            expected_seq = seq
        if digest(body) != stored_hash:
            problems.append(
                Problem(case_id, seq, "hash does not match the entry's content (altered)")
            )
        try:
            entry = Entry.from_body(body)
        except (ValueError, TypeError, KeyError, AttributeError):
            problems.append(Problem(case_id, seq, "entry is not readable JSON of an entry"))
            previous, expected_seq = stored_hash, expected_seq + 1
            continue
        if entry.case_id != case_id or entry.seq != seq:
            problems.append(
                Problem(case_id, seq, f"entry says it is case {entry.case_id} seq {entry.seq}")
            )
        if entry.prev_hash != previous:
            problems.append(Problem(case_id, seq, "chain broken: previous hash does not link"))
        entries.append(entry)
        previous, expected_seq = stored_hash, expected_seq + 1
    return problems, entries, previous


def check_case_row(
    row: Any,
    case_id: int,
    entries: list[Entry],
    head: str,
    worklist: tuple[Protocol, set[WorklistRow]] | None = None,
) -> list[Problem]:
    """Compare a case row (anything with its `state`, `version`, `head_hash` and `facts`) with
    the replay of its log; with `worklist` (the case's protocol and its stored worklist rows),
    also the follow-up visits `followup due` lists for it."""
    if row is None:
        return [Problem(case_id, None, "entries exist for a case row that is missing")]
    if not entries:
        return [Problem(case_id, None, "case row has no entries in the log")]
    try:
        # The head hash comes from the chain check: no need to re-serialise the last entry.
        replayed = fold(entries)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # An entry that parses but does not fold (a damaged field): report it, never crash.
        what = f"the log does not replay ({type(exc).__name__}: {exc})"
        return [Problem(case_id, entries[0].seq, what)]
    assert replayed is not None
    problems = []
    for column, value in (
        ("state", replayed.state),
        ("version", replayed.version),
        ("head_hash", head),
    ):
        if getattr(row, column) != value:
            problems.append(
                Problem(
                    case_id,
                    replayed.version,
                    f"case row {column} {getattr(row, column)!r} differs from the log's {value!r}",
                )
            )
    if not _same_facts(row.facts, replayed):
        problems.append(
            Problem(case_id, replayed.version, "case row data differs from a replay of its log")
        )
    if worklist is not None:
        problems += _check_worklist(case_id, replayed, *worklist)
    return problems


# A worklist row as the audit compares it: (visit, due at, patient ref, knee).
WorklistRow = tuple[str, str, str, str]


def _worklist_row(row: Any) -> WorklistRow:
    """The compared part of a worklist row (stored, or as `due_visit_row` would write it)."""
    return (row["visit"], row["due_at"], row["patient_ref"], row["knee"])


def _check_worklist(
    case_id: int, replayed: CaseSnapshot, protocol: Protocol, stored: set[WorklistRow]
) -> list[Problem]:
    """A visit missing from the worklist is a patient nobody calls back: name each difference."""
    expected = {
        _worklist_row(due_visit_row(replayed, visit)) for visit in visits_due(replayed, protocol)
    }
    if stored == expected:
        return []

    def shown(rows: set[WorklistRow]) -> str:
        own = (replayed.patient_ref, replayed.knee)
        return ", ".join(
            f"{visit} due {at}" + ("" if (patient, knee) == own else f" for {patient} {knee}")
            for visit, at, patient, knee in sorted(rows)
        )

    missing, extra = shown(expected - stored), shown(stored - expected)
    what = "; ".join(
        part
        for part in (missing and f"missing {missing}", extra and f"not in the log {extra}")
        if part
    )
    return [Problem(case_id, replayed.version, f"follow-up worklist differs from the log: {what}")]


def _fact_defaults() -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    for f in fields(CaseSnapshot):
        if f.default is not MISSING:
            defaults[f.name] = f.default
        elif f.default_factory is not MISSING:
            defaults[f.name] = f.default_factory()
    defaults["visits"] = list(defaults.get("visits", ()))
    return defaults


# What a stored snapshot means for a key it lacks (a row written before the key existed).
_FACT_DEFAULTS = _fact_defaults()


def _same_facts(stored_text: str, replayed: CaseSnapshot) -> bool:
    """Whether the row's cached snapshot is the replayed one (its head hash is compared as a
    column). Compared as parsed JSON: no snapshot object is built for the row."""
    try:
        stored = json.loads(stored_text)
    except ValueError:
        return False
    if not isinstance(stored, dict) or not stored:
        return False
    expected = replayed.facts()
    expected["head_hash"] = stored.get("head_hash")
    if stored.keys() == expected.keys():
        return bool(stored == expected)
    return {**_FACT_DEFAULTS, **stored} == expected


def _stream(conn: Connection, query: Any) -> Iterable[Any]:
    """Every row of `query`, streamed, in the unit of work's transaction. On SQLite straight
    from the DBAPI cursor: SQLAlchemy's per-row work was a tenth of verify's cost."""
    if conn.dialect.name != "sqlite":
        return conn.execute(query.execution_options(yield_per=2000))
    compiled = query.compile(dialect=conn.dialect)
    params = compiled.params
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    cursor.arraysize = 2000
    rows: Iterable[Any] = cursor.execute(
        str(compiled), [params[name] for name in compiled.positiontup or ()]
    )
    return rows


def _grouped(rows: Iterable[Any]) -> Iterator[tuple[int, list[tuple[int, str, str]]]]:
    case_id: int | None = None
    bucket: list[tuple[int, str, str]] = []
    for row in rows:
        if row[0] != case_id:
            if case_id is not None:
                yield case_id, bucket
            case_id, bucket = row[0], []
        bucket.append((row[1], row[2], row[3]))
    if case_id is not None:
        yield case_id, bucket


def verify(
    uow: UnitOfWork,
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
        ranges = _parallel_ranges(uow, _worker_count(workers))
        if ranges:
            return _verify_parallel(uow, ranges, progress)
    return _verify_range(uow, case_id, None, None, progress)


# Below this many entries a pool of processes costs more than it saves.
PARALLEL_MIN_ENTRIES = 60_000


def _worker_count(workers: int | None) -> int:
    if workers is not None:
        return workers
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(cores or 1, 4)


def _parallel_ranges(uow: UnitOfWork, workers: int) -> list[tuple[int | None, int | None]]:
    """Case-id ranges to check in parallel, or none when one process is the better choice."""
    url = uow.engine.url
    if workers < 2 or (
        url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")
    ):
        return []
    with uow:
        count, low, high = uow.session.execute(
            select(func.count(), func.min(EntryRow.case_id), func.max(EntryRow.case_id))
        ).one()
    if count < PARALLEL_MIN_ENTRIES:
        return []
    pieces = workers * 4
    step = max(1, (high - low + 1) // pieces)
    bounds = [low + i * step for i in range(pieces)] + [high + 1]
    # The first and last ranges are open, so nothing outside [low, high] escapes the check.
    return [
        (None if i == 0 else bounds[i], None if i == pieces - 1 else bounds[i + 1] - 1)
        for i in range(pieces)
    ]


def _verify_parallel(
    uow: UnitOfWork, ranges: list[tuple[int | None, int | None]], progress: Progress | None
) -> list[Problem]:
    """Check the ranges in worker processes (fresh interpreters: nothing of this process, its
    threads or its __main__ is copied) and gather their problems in case order."""
    import queue
    import subprocess
    import sys
    import threading

    workers = min(_worker_count(None), len(ranges))
    url = uow.engine.url.render_as_string(hide_password=False)
    lines: queue.Queue[tuple[int, str | None]] = queue.Queue()
    procs = []
    for k in range(workers):
        mine = [[i, lo, hi] for i, (lo, hi) in enumerate(ranges) if i % workers == k]
        proc = subprocess.Popen(
            [sys.executable, "-c", "from bmac_workflow.audit import _worker; _worker()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdin is not None
        # The URL goes through a pipe, never the command line: it may carry a password.
        proc.stdin.write(json.dumps({"url": url, "ranges": mine}))
        proc.stdin.close()
        procs.append(proc)
        threading.Thread(target=_pump, args=(k, proc, lines), daemon=True).start()
    results: dict[int, list[Problem]] = {}
    running = workers
    while running:
        k, line = lines.get()
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


def _worker() -> None:
    """A verify worker: reads {url, ranges} on stdin, prints one JSON line per range checked."""
    import sys

    from .store.engine import make_engine

    job = json.loads(sys.stdin.read())
    engine = make_engine(job["url"])
    for piece, low, high in job["ranges"]:
        counted = [0]

        def count(n: int, counted: list[int] = counted) -> None:
            counted[0] += n

        problems = _verify_range(UnitOfWork(engine), None, low, high, count)
        out = {
            "piece": piece,
            "entries": counted[0],
            "problems": [[p.case_id, p.seq, p.what] for p in problems],
        }
        print(json.dumps(out), flush=True)
    engine.dispose()


def _verify_range(
    uow: UnitOfWork,
    case_id: int | None,
    low: int | None,
    high: int | None,
    progress: Progress | None,
) -> list[Problem]:
    """The check of one case, or of the cases whose ids lie in [low, high] (open ends)."""
    problems: list[Problem] = []
    with uow:
        query = select(EntryRow.case_id, EntryRow.seq, EntryRow.body, EntryRow.hash).order_by(
            EntryRow.case_id, EntryRow.seq
        )
        # The columns the check reads, not ORM objects: a tenth of the cost per case.
        cases = select(
            CaseRow.id,
            CaseRow.state,
            CaseRow.version,
            CaseRow.head_hash,
            CaseRow.facts,
            CaseRow.protocol_id,
        ).order_by(CaseRow.id)
        due = select(
            DueVisitRow.case_id,
            DueVisitRow.visit,
            DueVisitRow.due_at,
            DueVisitRow.patient_ref,
            DueVisitRow.knee,
        )
        query = query.where(*_in_range(EntryRow.case_id, case_id, low, high))
        cases = cases.where(*_in_range(CaseRow.id, case_id, low, high))
        due = due.where(*_in_range(DueVisitRow.case_id, case_id, low, high))
        rows_by_id = {row.id: row for row in uow.session.execute(cases)}
        due_by_id: dict[int, set[WorklistRow]] = {}
        for visit in uow.session.execute(due):
            due_by_id.setdefault(visit.case_id, set()).add(_worklist_row(visit._mapping))
        seen: set[int] = set()
        for cid, rows in _grouped(_stream(uow.session.connection(), query)):
            seen.add(cid)
            chain_problems, entries, head = check_chain(cid, rows)
            problems += chain_problems
            row = rows_by_id.get(cid)
            worklist = None
            if row is not None:
                worklist = (uow.repo.protocol(row.protocol_id), due_by_id.pop(cid, set()))
            problems += check_case_row(row, cid, entries, head, worklist)
            if progress:
                progress(len(rows))
        for cid, row in rows_by_id.items():
            if cid not in seen and row.version > 0:
                problems.append(Problem(cid, None, "case row has no entries in the log"))
        for cid in sorted(set(due_by_id) - seen):
            problems.append(Problem(cid, None, "follow-up worklist lists a case with no log"))
    return problems


def _in_range(column: Any, case_id: int | None, low: int | None, high: int | None) -> list[Any]:
    """The conditions that keep `column` (a case id) to one case or to [low, high]."""
    conditions = []
    if case_id is not None:
        conditions.append(column == case_id)
    if low is not None:
        conditions.append(column >= low)
    if high is not None:
        conditions.append(column <= high)
    return conditions


def heads_digest(heads: dict[str, tuple[int, str]]) -> str:
    """The checkpoint digest: SHA-256 over the canonical list of [case, entry count, head hash]."""
    listing = [[int(c), n, h] for c, (n, h) in sorted(heads.items(), key=lambda kv: int(kv[0]))]
    return hashlib.sha256(canonical(listing).encode()).hexdigest()
