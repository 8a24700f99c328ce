"""`audit verify` over a whole generated, signed record vs raw floors.

Two floors, each what a hand-written checker would do at the least:

- with the signatures (for `audit verify --full`): read every entry with plain sqlite3, SHA-256
  its stored text, parse its JSON, bring what is signed (the entry without its signatures) to
  canonical JSON and check each of its Ed25519 signatures with PyNaCl (the injection has two),
  in as many processes as `audit verify` uses on the same record;
- hash only (for plain `audit verify` after an auditor's checkpoint, which checks only the
  signatures made since): read every entry, bring it to canonical JSON and SHA-256 it, in one
  process (the floor of the figures before signatures, unchanged).

`audit verify` does more than either (links, seq, who signed with which key and role, the
re-run of every case through the guards and rules, each case row against the replay).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from bmac_workflow.record import SIGNED_PREFIX, canonical
from bmac_workflow.services.verification import verify
from bmac_workflow.store.database import Database

from .common import Figure

HASH_FLOOR = "sqlite3+json+sha256"
SIGNED_FLOOR = "sqlite3+json+sha256+Ed25519 verify"


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


def _signed_piece(job: tuple[str, int, int]) -> int:
    """The signed floor's work on the entries of cases [low, high]: how many fail."""
    import base64

    from nacl.encoding import Base64Encoder
    from nacl.exceptions import BadSignatureError
    from nacl.signing import VerifyKey

    path, low, high = job
    keys: dict[str, VerifyKey] = {}
    bad = 0
    db = sqlite3.connect(path)
    rows = db.execute(
        "SELECT body, hash FROM entries WHERE case_id BETWEEN ? AND ? ORDER BY case_id, seq",
        (low, high),
    )
    for body, stored in rows:
        if hashlib.sha256(body.encode()).hexdigest() != stored:
            bad += 1
        entry = json.loads(body)
        signatures = entry.pop("signatures")
        content = SIGNED_PREFIX + canonical(entry).encode()
        for part, signature in signatures.items():
            key = entry[part]["key"]
            if key not in keys:
                keys[key] = VerifyKey(key.encode(), Base64Encoder)
            try:
                keys[key].verify(content, base64.b64decode(signature))
            except BadSignatureError:
                bad += 1
    db.close()
    return bad


def signed_floor(path: Path, processes: int) -> int:
    """Check every entry's hash and signatures in `processes` processes (forked, each over its
    share of the case ids); returns how many failed."""
    db = sqlite3.connect(path)
    low, high = db.execute("SELECT min(case_id), max(case_id) FROM entries").fetchone()
    db.close()
    if low is None:
        return 0
    if processes < 2:
        return _signed_piece((str(path), low, high))
    pieces = processes * 4
    step = max(1, (high - low + 1) // pieces)
    bounds = [low + i * step for i in range(pieces)] + [high + 1]
    jobs = [(str(path), bounds[i], bounds[i + 1] - 1) for i in range(pieces)]
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        return sum(pool.imap_unordered(_signed_piece, jobs))


def checkpoint_then_log(path: Path, cases: int) -> int:
    """An auditor's checkpoint through the services (`take_checkpoint`: it runs the audit
    first), then `cases` new cases logged after it (opened, assessed, processed by the nurse up
    to the injection); returns how many entries were logged after the checkpoint."""
    from bmac_workflow.services.cases import (
        StepRequest,
        log_signed_step,
        open_signed_case,
        read_case,
    )
    from bmac_workflow.services.checkpoints import take_checkpoint
    from bmac_workflow.states import workflow
    from bmac_workflow.timeutil import utcnow

    from .commit import NURSE_STEPS, step_values
    from .generate import AUDITOR, NURSE, SURGEON, credentials, happy_values, signed_in

    db = Database.open(f"sqlite:///{path}")
    take_checkpoint(credentials(AUDITOR), utcnow, db)
    nurse, surgeon = signed_in(db, NURSE), signed_in(db, SURGEON)
    assess = happy_values(workflow().by_trigger["assess"])
    logged = 0
    for number in range(cases):
        case_id = open_signed_case(
            f"P-AFTER-{number:05d}", "right", None, nurse, None, utcnow, db
        ).case.case_id
        steps = [("assess", surgeon, assess)]
        steps += [(t, nurse, step_values(t, case_id)) for t in NURSE_STEPS]
        for trigger, who, values in steps:
            request = StepRequest(case_id, trigger, values)
            log_signed_step(request, read_case(case_id, db), who, utcnow, db)
        logged += 1 + len(steps)
    db.dispose()
    return logged


def ours(path: Path, workers: int | None = None, full: bool = False) -> int:
    """`audit verify` (`--full`) of the whole record; returns the number of problems found."""
    db = Database.open(f"sqlite:///{path}")
    try:
        return len(verify(db, workers=workers, full=full))
    finally:
        db.dispose()


def processes_of(path: Path) -> int:
    """How many processes `audit verify` checks this record with (1 below its threshold)."""
    from bmac_workflow.services.verification_pool import parallel_ranges, worker_count

    db = Database.open(f"sqlite:///{path}")
    try:
        ranges = parallel_ranges(db, None)
    finally:
        db.dispose()
    return min(worker_count(None), len(ranges)) if ranges else 1


def best_of(runs: dict[str, Callable[[], int]], rounds: int) -> tuple[dict[str, float], list[str]]:
    """Each run's best time of `rounds` alternating rounds (page cache warm for all, after one
    untimed run of the first), and a note for each that found problems."""
    best = dict.fromkeys(runs, float("inf"))
    found = dict.fromkeys(runs, 0)
    next(iter(runs.values()))()
    for _ in range(rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            found[name] = run()
            best[name] = min(best[name], time.perf_counter() - start)
    return best, [f"{name} found {n} problems" for name, n in found.items() if n]


def measure_full(path: Path, entries: int, rounds: int = 3) -> tuple[Figure, list[str]]:
    """`audit verify --full` (every signature), as `bmac` runs it, against the signed floor in
    as many processes."""
    processes = processes_of(path)
    best, notes = best_of(
        {
            "floor": lambda: signed_floor(path, processes),
            "ours --full": lambda: ours(path, full=True),
        },
        rounds,
    )
    figure = Figure(
        "audit_verify_full",
        best["ours --full"],
        "s",
        best["floor"],
        SIGNED_FLOOR,
        "speed",
        0.8,
        note=f"{entries} entries, every signature; {processes} process(es) each side",
    )
    return figure, notes


def measure_after_checkpoint(
    path: Path, entries: int, after: int, rounds: int = 2
) -> tuple[list[Figure], list[str]]:
    """Plain `audit verify` once an auditor's checkpoint reviewed the signatures before it
    (`after` entries were logged since), as `bmac` runs it (parallel on a large record when
    there are cores to spare) and forced to one process, against the hash-only floor."""
    best, notes = best_of(
        {
            "floor": lambda: floor(path),
            "ours": lambda: ours(path),
            "one process": lambda: ours(path, workers=1),
        },
        rounds,
    )
    figures = [
        Figure(
            "audit_verify",
            best["ours"],
            "s",
            best["floor"],
            HASH_FLOOR,
            "speed",
            1.0,
            note=f"{entries} entries, after a checkpoint: the signatures of the {after} "
            f"logged since; {processes_of(path)} process(es), the floor one",
        ),
        Figure(
            "audit_verify_1proc",
            best["one process"],
            "s",
            best["floor"],
            HASH_FLOOR,
            "speed",
            None,
            note="the same, forced to one process (no target: for comparison)",
        ),
    ]
    return figures, notes
