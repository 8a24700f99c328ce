"""Step commit through the service layer vs a raw sqlite3 floor of the same SQL shape.

Ours: `services.cases.log_signed_step` (read the case, validate the step, run the guards on the
machine, then in one write unit of work read it again, append the hashed entry, write the case
row, commit), as `bmac step ...` does once the operator's PIN is checked (the PIN check, one
argon2 run per command, is a fixed cost of its own). The floor: one raw sqlite3 connection with
the same pragmas (WAL, synchronous=FULL) doing SELECT, UPDATE, INSERT in one BEGIN IMMEDIATE
transaction, with the least work a hash chain needs (json + sha256). Both run on copies of one
prepared database, in alternating blocks so that the machine's mood hits both alike.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bmac_workflow.record import canonical
from bmac_workflow.services.cases import (
    StepRequest,
    log_signed_step,
    open_signed_case,
    read_case,
)
from bmac_workflow.services.schema import upgrade
from bmac_workflow.services.signing import SignedIn, sign_in
from bmac_workflow.states import workflow
from bmac_workflow.store.database import Database
from bmac_workflow.timeutil import iso, utcnow

from .common import Figure
from .generate import (
    LIMITS,
    NURSE,
    SURGEON,
    add_operators,
    credentials,
    happy_values,
    processing,
    signer_of,
)

# The steps a nurse logs, from the harvest up to the injection (the declarations' walk).
NURSE_STEPS = [trigger for trigger in processing() if signer_of(trigger) is NURSE]
NEXT_STATE = {trigger: workflow().by_trigger[trigger].dest for trigger in NURSE_STEPS}


def step_values(trigger: str, case_id: int) -> dict[str, Any]:
    """The data a nurse types for `trigger` on a case (a specimen ID of its own)."""
    return happy_values(workflow().by_trigger[trigger], f"SP-{case_id:07d}")


def signed_in(db: Database, who: Any) -> SignedIn:
    """The benchmark operator `who`, signed in once (the PIN check is not the figure)."""
    return sign_in(credentials(who), LIMITS, utcnow(), db)


FLOOR_UPDATE = (
    "UPDATE cases SET state = ?, version = ?, head_hash = ?, updated_at = ?, facts = ? "
    "WHERE id = ? AND version = ?"
)
# The collection also writes the specimen ID into its uniquely indexed column, as ours must.
FLOOR_UPDATE_SPECIMEN = (
    "UPDATE cases SET state = ?, version = ?, head_hash = ?, updated_at = ?, facts = ?, "
    "specimen_id = ? WHERE id = ? AND version = ?"
)


def floor_rows(
    case_id: int, trigger: str, signer: dict[str, str], facts_text: str, version: int, head: str
) -> tuple[str, tuple[Any, ...], tuple[Any, ...]]:
    """The floor's work for one step between its SELECT and its writes: the canonical body,
    its SHA-256 and the case's new snapshot, as the UPDATE (qmark SQL and parameters) and the
    INSERT's parameters."""
    facts = json.loads(facts_text)
    now = iso(utcnow())
    state = NEXT_STATE[trigger]
    body = canonical(
        {
            "case_id": case_id,
            "seq": version + 1,
            "action": trigger,
            "from_state": facts["state"],
            "to_state": state,
            "at": now,
            "recorded_at": now,
            "signer": signer,
            "data": step_values(trigger, case_id),
            "prev_hash": head,
        }
    )
    entry_hash = hashlib.sha256(body.encode()).hexdigest()
    facts.update(state=state, version=version + 1, head_hash=entry_hash, updated_at=now)
    new = (state, version + 1, entry_hash, now, json.dumps(facts, sort_keys=True))
    insert = (case_id, version + 1, body, entry_hash)
    specimen = step_values(trigger, case_id).get("specimen_id")
    if specimen is None:
        return FLOOR_UPDATE, (*new, case_id, version), insert
    return FLOOR_UPDATE_SPECIMEN, (*new, specimen, case_id, version), insert


def prepare(url: str, cases: int) -> list[int]:
    """A migrated database with `cases` cases opened and assessed, waiting for collection."""
    from bmac_workflow.protocol import load

    db = Database.open(url, check_schema=False)
    upgrade(db)
    add_operators(db)
    protocol = load(None)
    nurse, surgeon = signed_in(db, NURSE), signed_in(db, SURGEON)
    assess = happy_values(workflow().by_trigger["assess"])
    ids = []
    for number in range(cases):
        change = open_signed_case(f"P-{number:07d}", "left", protocol, nurse, None, utcnow, db)
        case_id = change.case.case_id
        found = read_case(case_id, db)
        request = StepRequest(case_id, "assess", assess)
        log_signed_step(request, found, surgeon, LIMITS, utcnow, db)
        ids.append(case_id)
    db.dispose()
    return ids


def ours(db: Database, before_pin: list[float] | None = None) -> Callable[[int, str], float]:
    """One step through the service layer, the nurse signed in; returns the seconds from the
    PIN check to the commit. The case is read before the PIN is asked (as `bmac step` does):
    that read is timed apart, into `before_pin`, like the PIN check itself."""
    nurse = signed_in(db, NURSE)

    def step(case_id: int, trigger: str) -> float:
        start = time.perf_counter()
        found = read_case(case_id, db)
        read = time.perf_counter()
        values = step_values(trigger, case_id)
        log_signed_step(StepRequest(case_id, trigger, values), found, nurse, LIMITS, utcnow, db)
        if before_pin is not None:
            before_pin.append(read - start)
        return time.perf_counter() - read

    return step


def raw_connection(path: Path) -> sqlite3.Connection:
    """A raw sqlite3 connection with the durability the product uses."""
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in (
        "busy_timeout = 10000",
        "journal_mode = WAL",
        "synchronous = FULL",
        "foreign_keys = ON",
    ):
        db.execute(f"PRAGMA {pragma}")
    return db


def floor(db: sqlite3.Connection) -> Callable[[int, str], float]:
    """One step the rawest way: SELECT, UPDATE, INSERT in one BEGIN IMMEDIATE transaction."""
    signer = {"id": NURSE.id, "name": NURSE.name, "role": NURSE.role, "meaning": "performed"}

    def step(case_id: int, trigger: str) -> float:
        start = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        facts_text, version, head = db.execute(
            "SELECT facts, version, head_hash FROM cases WHERE id = ?", (case_id,)
        ).fetchone()
        sql, update, insert = floor_rows(case_id, trigger, signer, facts_text, version, head)
        db.execute(sql, update)
        db.execute("INSERT INTO entries (case_id, seq, body, hash) VALUES (?, ?, ?, ?)", insert)
        db.execute("COMMIT")
        return time.perf_counter() - start

    return step


def measure(workdir: Path, steps: int, block: int = 25) -> tuple[Figure, list[str]]:
    """The step-commit figure: mean time per step, ours vs the floor, alternating blocks."""
    from bmac_workflow.services.verification import verify

    cases = max(1, steps // len(NURSE_STEPS))
    mine_path, floor_path = workdir / "commit.sqlite3", workdir / "commit-floor.sqlite3"
    ids = prepare(f"sqlite:///{mine_path}", cases)
    with sqlite3.connect(mine_path) as src, sqlite3.connect(floor_path) as dst:
        src.backup(dst)
    work = [(case_id, trigger) for trigger in NURSE_STEPS for case_id in ids]
    mine = Database.open(f"sqlite:///{mine_path}")
    db = raw_connection(floor_path)
    before_pin: list[float] = []
    runners = {"ours": ours(mine, before_pin), "floor": floor(db)}
    spent = {"ours": 0.0, "floor": 0.0}
    for first in range(0, len(work), block):
        for name in ("ours", "floor"):
            run = runners[name]
            for case_id, trigger in work[first : first + block]:
                spent[name] += run(case_id, trigger)
    db.close()
    notes = []
    read_ms = sum(before_pin) / len(before_pin) * 1000
    problems = verify(mine)
    if problems:
        notes.append(f"verify found {len(problems)} problems after the run: {problems[0]}")
    mine.dispose()
    per_step = {name: seconds / len(work) * 1000 for name, seconds in spent.items()}
    figure = Figure(
        "step_commit_sqlite",
        per_step["ours"],
        "ms/step",
        per_step["floor"],
        "raw sqlite3",
        "speed",
        0.6,
        note=f"{len(work)} steps, WAL + synchronous=FULL; the case read before the PIN, "
        f"outside the figure like the PIN check: {read_ms:.3f} ms/step",
    )
    return figure, notes


def ours_only(workdir: Path, steps: int) -> None:
    """Only our side of the figure (for a profile): `steps` steps on a fresh database."""
    path = workdir / "commit-profile.sqlite3"
    ids = prepare(f"sqlite:///{path}", max(1, steps // len(NURSE_STEPS)))
    db = Database.open(f"sqlite:///{path}")
    run = ours(db)
    for trigger in NURSE_STEPS:
        for case_id in ids:
            run(case_id, trigger)
    db.dispose()
