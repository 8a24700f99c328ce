"""Step commit through the service layer vs a raw sqlite3 floor that also signs.

Ours: `services.cases.log_signed_step` (validate the step, run the guards on the machine, then
in one write unit of work append the entry signed with the operator's Ed25519 key, write the
case row, commit), as `bmac step ...` does once the operator's PIN has unsealed their key. The
case is read before the PIN is asked (`read_case`): that read is timed apart, like the sign-in
(one argon2 run at the real cost, `keys.COST`), and neither is in the figure. The floor: one raw
sqlite3 connection with the same pragmas (WAL, synchronous=FULL) doing SELECT, UPDATE, INSERT in
one BEGIN IMMEDIATE transaction, with the least work a signed hash chain needs: the canonical
JSON of what is signed, one Ed25519 signature (PyNaCl's `nacl.signing`, the key made once), the
canonical JSON of the body with the signature, its SHA-256. It writes the same rows ours must:
the specimen ID into its uniquely indexed column, and the trace row of each kit lot or device
a step names (`case_materials`, since issue 17). Both run on copies of one prepared database, in
alternating blocks so that the machine's mood hits both alike.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bmac_workflow.record import SIGNED_PREFIX, canonical
from bmac_workflow.services.cases import (
    StepRequest,
    log_signed_step,
    open_signed_case,
    read_case,
)
from bmac_workflow.services.schema import upgrade
from bmac_workflow.services.signing import SignedIn
from bmac_workflow.states import workflow
from bmac_workflow.store.database import Database
from bmac_workflow.timeutil import iso, utcnow

from .common import Figure, fresh
from .generate import (
    NURSE,
    SURGEON,
    add_operators,
    happy_values,
    processing,
    signed_in,
    signer_of,
)

# The steps a nurse logs, from the harvest up to the injection (the declarations' walk).
NURSE_STEPS = [trigger for trigger in processing() if signer_of(trigger) is NURSE]
NEXT_STATE = {trigger: workflow().by_trigger[trigger].dest for trigger in NURSE_STEPS}
# The fields naming a kit lot or a device in each step's data, and which ("lot", "device").
MATERIALS = {trigger: workflow().by_trigger[trigger].material_fields for trigger in NURSE_STEPS}


def step_values(trigger: str, case_id: int) -> dict[str, Any]:
    """The data a nurse types for `trigger` on a case (a specimen ID of its own)."""
    return happy_values(workflow().by_trigger[trigger], f"SP-{case_id:07d}")


FLOOR_UPDATE = (
    "UPDATE cases SET state = ?, version = ?, head_hash = ?, updated_at = ?, facts = ? "
    "WHERE id = ? AND version = ?"
)
# The collection also writes the specimen ID into its uniquely indexed column, as ours must.
FLOOR_UPDATE_SPECIMEN = (
    "UPDATE cases SET state = ?, version = ?, head_hash = ?, updated_at = ?, facts = ?, "
    "specimen_id = ? WHERE id = ? AND version = ?"
)
FLOOR_INSERT = "INSERT INTO entries (case_id, seq, body, hash) VALUES (?, ?, ?, ?)"
# A step naming a kit lot or a device writes its trace row (`bmac trace`), as ours must.
FLOOR_MATERIAL = (
    "INSERT INTO case_materials (case_id, seq, kind, ref, action, at) VALUES (?, ?, ?, ?, ?, ?)"
)


class FloorSigner:
    """The floor's signer: the nurse's printed name, role and public key, and their signing key
    as a `nacl.signing.SigningKey` made once."""

    def __init__(self, signed: SignedIn) -> None:
        from nacl.signing import SigningKey

        holder = signed.holder
        self.plain = {
            "id": holder.id,
            "name": holder.name,
            "role": holder.role,
            "meaning": "performed",
            "key": holder.key,
        }
        self.registry = signed.registry.length
        self._key = SigningKey(signed.seed)

    def sign(self, content: bytes) -> str:
        """The signature (base64) of `content`."""
        return base64.b64encode(self._key.sign(content).signature).decode("ascii")


def floor_rows(
    case_id: int, trigger: str, signer: FloorSigner, facts_text: str, version: int, head: str
) -> tuple[str, tuple[Any, ...], tuple[Any, ...], list[tuple[Any, ...]]]:
    """The floor's work for one step between its SELECT and its writes: the canonical JSON of
    what is signed, its Ed25519 signature, the canonical body with it, its SHA-256 and the
    case's new snapshot, as the UPDATE (qmark SQL and parameters), the INSERT's parameters and
    the trace rows' parameters."""
    facts = json.loads(facts_text)
    now = iso(utcnow())
    state = NEXT_STATE[trigger]
    values = step_values(trigger, case_id)
    entry = {
        "case_id": case_id,
        "seq": version + 1,
        "action": trigger,
        "from_state": facts["state"],
        "to_state": state,
        "at": now,
        "recorded_at": now,
        "signer": signer.plain,
        "data": values,
        "prev_hash": head,
        "verifier": None,
        "reason": None,
        "corrects": None,
        "registry": signer.registry,
    }
    entry["signatures"] = {"signer": signer.sign(SIGNED_PREFIX + canonical(entry).encode())}
    body = canonical(entry)
    entry_hash = hashlib.sha256(body.encode()).hexdigest()
    facts.update(state=state, version=version + 1, head_hash=entry_hash, updated_at=now)
    new = (state, version + 1, entry_hash, now, json.dumps(facts, sort_keys=True))
    insert = (case_id, version + 1, body, entry_hash)
    used = [
        (case_id, version + 1, kind, str(values[name]), trigger, now)
        for name, kind in MATERIALS[trigger]
        if values.get(name)
    ]
    specimen = values.get("specimen_id")
    if specimen is None:
        return FLOOR_UPDATE, (*new, case_id, version), insert, used
    return FLOOR_UPDATE_SPECIMEN, (*new, specimen, case_id, version), insert, used


def prepare(url: str, cases: int) -> list[int]:
    """A migrated database with the benchmark's operators (keys sealed at the real argon2 cost)
    and `cases` cases opened and assessed, waiting for collection."""
    db = Database.open(url, check_schema=False)
    upgrade(db)
    add_operators(db)
    nurse, surgeon = signed_in(db, NURSE), signed_in(db, SURGEON)
    assess = happy_values(workflow().by_trigger["assess"])
    ids = []
    for number in range(cases):
        change = open_signed_case(f"P-{number:07d}", "left", None, nurse, None, utcnow, db)
        case_id = change.case.case_id
        found = read_case(case_id, db)
        request = StepRequest(case_id, "assess", assess)
        log_signed_step(request, found, surgeon, utcnow, db)
        ids.append(case_id)
    db.dispose()
    return ids


def timed_sign_in(db: Database, times: list[float] | None = None) -> SignedIn:
    """The nurse signed in (one argon2 run: the PIN unseals their key), the time it took kept
    in `times`."""
    start = time.perf_counter()
    nurse = signed_in(db, NURSE)
    if times is not None:
        times.append(time.perf_counter() - start)
    return nurse


def ours(
    db: Database, before_pin: list[float] | None = None, sign_ins: list[float] | None = None
) -> Callable[[int, str], float]:
    """One step through the service layer, the nurse signed in once; returns the seconds from
    the PIN check to the commit. The case is read before the PIN is asked (as `bmac step`
    does): that read is timed apart, into `before_pin`, like the sign-in, into `sign_ins`."""
    nurse = timed_sign_in(db, sign_ins)

    def step(case_id: int, trigger: str) -> float:
        start = time.perf_counter()
        found = read_case(case_id, db)
        read = time.perf_counter()
        values = step_values(trigger, case_id)
        log_signed_step(StepRequest(case_id, trigger, values), found, nurse, utcnow, db)
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


def floor(db: sqlite3.Connection, signer: FloorSigner) -> Callable[[int, str], float]:
    """One step the rawest way: SELECT, UPDATE, INSERT (and the trace rows) in one BEGIN
    IMMEDIATE transaction, the entry signed once."""

    def step(case_id: int, trigger: str) -> float:
        start = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        facts_text, version, head = db.execute(
            "SELECT facts, version, head_hash FROM cases WHERE id = ?", (case_id,)
        ).fetchone()
        sql, update, insert, used = floor_rows(case_id, trigger, signer, facts_text, version, head)
        db.execute(sql, update)
        db.execute(FLOOR_INSERT, insert)
        for row in used:
            db.execute(FLOOR_MATERIAL, row)
        db.execute("COMMIT")
        return time.perf_counter() - start

    return step


def measure(workdir: Path, steps: int, block: int = 25) -> tuple[Figure, list[str]]:
    """The step-commit figure: mean time per step, ours vs the floor, alternating blocks."""
    from bmac_workflow.services.verification import verify

    cases = max(1, steps // len(NURSE_STEPS))
    mine_path, floor_path = workdir / "commit.sqlite3", workdir / "commit-floor.sqlite3"
    fresh(mine_path, floor_path)
    ids = prepare(f"sqlite:///{mine_path}", cases)
    with sqlite3.connect(mine_path) as src, sqlite3.connect(floor_path) as dst:
        src.backup(dst)
    work = [(case_id, trigger) for trigger in NURSE_STEPS for case_id in ids]
    mine = Database.open(f"sqlite:///{mine_path}")
    db = raw_connection(floor_path)
    before_pin: list[float] = []
    sign_ins: list[float] = []
    # The floor signs with the nurse's key too, made once (its sign-in is not timed either).
    floor_signer = FloorSigner(timed_sign_in(mine))
    runners = {"ours": ours(mine, before_pin, sign_ins), "floor": floor(db, floor_signer)}
    spent = {"ours": 0.0, "floor": 0.0}
    for first in range(0, len(work), block):
        for name in ("ours", "floor"):
            run = runners[name]
            for case_id, trigger in work[first : first + block]:
                spent[name] += run(case_id, trigger)
    db.close()
    notes = []
    if _trace_rows(mine_path) != _trace_rows(floor_path):
        notes.append("the floor did not write the trace rows ours wrote")
    read_ms = sum(before_pin) / len(before_pin) * 1000
    problems = verify(mine, full=True)
    if problems:
        notes.append(f"verify found {len(problems)} problems after the run: {problems[0]}")
    mine.dispose()
    per_step = {name: seconds / len(work) * 1000 for name, seconds in spent.items()}
    figure = Figure(
        "step_commit_sqlite",
        per_step["ours"],
        "ms/step",
        per_step["floor"],
        "sqlite3+json+sha256+Ed25519 sign",
        "speed",
        0.6,
        note=f"{len(work)} steps, WAL + synchronous=FULL, one signature each; outside the "
        f"figure: the case read before the PIN {read_ms:.3f} ms/step, the sign-in (one argon2 "
        f"run at keys.COST) {sign_ins[0] * 1000:.0f} ms/command",
    )
    return figure, notes


def _trace_rows(path: Path) -> list[tuple[Any, ...]]:
    """The trace rows a database holds, but their times (each side logged at its own)."""
    with sqlite3.connect(path) as db:
        query = "SELECT case_id, seq, kind, ref, action FROM case_materials ORDER BY 1, 2, 3, 4"
        return db.execute(query).fetchall()


def ours_only(workdir: Path, steps: int) -> None:
    """Only our side of the figure (for a profile): `steps` steps on a fresh database."""
    path = workdir / "commit-profile.sqlite3"
    fresh(path)
    ids = prepare(f"sqlite:///{path}", max(1, steps // len(NURSE_STEPS)))
    db = Database.open(f"sqlite:///{path}")
    run = ours(db)
    for trigger in NURSE_STEPS:
        for case_id in ids:
            run(case_id, trigger)
    db.dispose()
