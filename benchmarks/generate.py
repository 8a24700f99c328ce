"""A synthetic clinic: many cases with valid hash chains and real signatures, built with the
real record code.

The clinic's operators are added through the services (`operators.add_operator`: the admin is
the root key, every other operator an act of the registry the admin signs, each key sealed under
the PIN at the real argon2 cost, `keys.COST`), and the shipped protocol is activated. Every
entry is a `record.Entry` whose data is copied from a real case driven through the services
once (so that the data has exactly the shape the code writes today), chained with `prev_hash`,
signed with the Ed25519 key of who signs it (and of the verifier, for an injection) over
`Entry.content()`, folded with `record.apply`, and bulk-inserted with executemany in big
transactions. The worker processes build and sign the entries; this one inserts.
`bmac audit verify --full` accepts the result.

    python benchmarks/generate.py /tmp/clinic.sqlite3 --cases 100000 --entries 1500000
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import multiprocessing
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bmac_workflow.cli.progress import progress_bar
from bmac_workflow.gates import entry_materials
from bmac_workflow.operators import Operator
from bmac_workflow.protocol import Protocol, load
from bmac_workflow.record import (
    GENESIS,
    SIGNED_PREFIX,
    CaseSnapshot,
    Entry,
    Signature,
    apply,
    canonical,
)
from bmac_workflow.roles import NURSE as NURSE_ROLE
from bmac_workflow.rules import due_rows, minutes_between
from bmac_workflow.services import operators as operator_service
from bmac_workflow.services.cases import StepRequest, log_signed_step, open_signed_case, read_case
from bmac_workflow.services.schema import upgrade
from bmac_workflow.services.signing import Credentials, SignedIn, sign_in
from bmac_workflow.states import workflow
from bmac_workflow.steps import Step, example_values
from bmac_workflow.store.case_writes import facts_text
from bmac_workflow.store.database import Database
from bmac_workflow.timeutil import from_iso, utcnow

# The rows one case contributes: (case, seq, body, hash), and its worklist rows.
EntryRowValues = tuple[int, int, str, str]
# How many kit lots (and filter lots) the generated cases share: `bmac trace lot` at scale.
LOTS = 1_000
DueRowValues = dict[str, Any]

# Every benchmark operator's PIN (the PIN rules: six characters, no run, no repeat).
PIN = "246813"
ADMIN = Operator("admin.bench", "Bench Admin", "admin", True)
NURSE = Operator("nurse.bench", "Bench Nurse", "nurse", True)
NURSE2 = Operator("nurse2.bench", "Second Nurse", "nurse", True)
SURGEON = Operator("dr.bench", "Bench Surgeon", "surgeon", True)
AUDITOR = Operator("auditor.bench", "Bench Auditor", "auditor", True)
OPERATORS = (ADMIN, NURSE, NURSE2, SURGEON, AUDITOR)
# Who signs the generated entries (and so whose keys the workers sign with).
SIGNERS = (NURSE, NURSE2, SURGEON)


def walk() -> tuple[Step, ...]:
    """The steps of a happy case, from the declarations (assessment to injection)."""
    return workflow().walk


def processing() -> list[str]:
    """The triggers after the assessment up to the injection, in order."""
    return [step.trigger for step in walk()[1:]]


def signer_of(trigger: str) -> Operator:
    """Who signs a step in the synthetic clinic: the nurse where a nurse may."""
    return NURSE if NURSE_ROLE in workflow().by_trigger[trigger].roles else SURGEON


def credentials(operator: Operator) -> Credentials:
    """A benchmark operator's credentials (every one has the PIN `PIN`)."""
    return Credentials(operator.id, lambda: PIN)


def happy_values(step: Step, specimen_id: str = "SP-T") -> dict[str, Any]:
    """The values a person types for `step` on a happy case (the declarations' examples)."""
    values = example_values(step, specimen_id)
    if step.has_verifier():
        values["verifier_id"] = NURSE2.id
    return values


def add_operators(db: Database) -> None:
    """The benchmark's operators, through the services: the admin first (the clinic's root key;
    this also activates the shipped protocol), then each other one, added by the admin. Every
    key is sealed under `PIN` at the real argon2 cost (nine argon2 runs in all)."""
    admin = credentials(ADMIN)
    for operator in OPERATORS:
        operator_service.add_operator(
            operator.id, operator.name, operator.role, lambda: PIN, admin, utcnow, db
        )


def signed_in(db: Database, who: Operator) -> SignedIn:
    """`who` signed in (one argon2 run at the cost their key was sealed with)."""
    return sign_in(credentials(who), utcnow(), db)


@dataclass(frozen=True)
class Template:
    """One real entry's action, data, signatures and reason, to copy into generated cases."""

    action: str
    to_state: str
    data: dict[str, Any]
    signer: Signature
    verifier: Signature | None
    reason: str | None

    def pieces(self) -> tuple[str, str, str]:
        """What every entry made from this template writes alike, as canonical JSON: its action,
        its reason, and its members after "signatures" (`,"signer":...}`)."""
        verifier = None if self.verifier is None else self.verifier.plain()
        tail = canonical(
            {"signer": self.signer.plain(), "to_state": self.to_state, "verifier": verifier}
        )
        return canonical(self.action), canonical(self.reason), "," + tail[1:]


def real_templates(path: Path, signed: dict[str, SignedIn]) -> dict[str, Template]:
    """Drive real cases through the services once, on a copy of the clinic at `path` (same
    operators, keys and registry), and keep their entries as templates (keyed by action;
    `assess_ineligible` for the non-candidate, `close_lost` for a case lost to follow-up)."""
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp) / "templates.sqlite3"
        _copy(path, scratch)
        db = Database.open(f"sqlite:///{scratch}", check_schema=False)
        protocol = load(None)

        def run(case_id: int, trigger: str, values: dict[str, Any], **kw: Any) -> None:
            who = signed[signer_of(trigger).id]
            request = StepRequest(case_id, trigger, values, reason=kw.get("reason"))
            found = read_case(case_id, db)
            log_signed_step(request, found, who, utcnow, db, kw.get("verifier"))

        def walked(case_id: int, specimen_id: str) -> None:
            for step in walk():
                second = credentials(NURSE2) if step.has_verifier() else None
                run(case_id, step.trigger, happy_values(step, specimen_id), verifier=second)

        def opened(patient: str) -> int:
            change = open_signed_case(patient, "left", None, signed[NURSE.id], None, utcnow, db)
            return change.case.case_id

        happy = opened("P-T1")
        walked(happy, "SP-T")
        for visit in [*protocol.visits, "adhoc"]:
            run(happy, "record_follow_up", {"visit": visit, "vas": 3})
        run(happy, "close", {})
        ineligible = opened("P-T2")
        assess = workflow().by_trigger["assess"]
        run(ineligible, "assess", {**happy_values(assess), "kl_grade": 4})
        cancelled = opened("P-T3")
        run(cancelled, "cancel", {}, reason="patient withdrew consent")
        lost = opened("P-T4")
        walked(lost, "SP-T4")
        run(lost, "close", {}, reason="lost to follow-up")
        found: dict[str, Template] = {}
        with db.read() as uow:
            named = {happy: "", ineligible: "_ineligible", cancelled: "", lost: "_lost"}
            for case_id, suffix in named.items():
                for entry, _ in uow.repo.entries(case_id):
                    special = entry.action in ("assess", "close")
                    found.setdefault(
                        entry.action + (suffix if special else ""),
                        Template(
                            entry.action,
                            entry.to_state,
                            entry.data,
                            entry.signer,
                            entry.verifier,
                            entry.reason,
                        ),
                    )
            check_bodies([e for c in named for e, _ in uow.repo.entries(c)])
        db.dispose()
    return found


def _copy(source: Path, target: Path) -> None:
    """The SQLite database at `source` copied to `target` (the backup API: WAL included)."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()


Event = tuple[str, datetime, dict[str, Any]]
ENTRY_FIELDS = [f.name for f in fields(Entry)]
# The members of an entry's canonical JSON that `build_case` writes before "signatures", and
# those the template gives after it.
HEAD_FIELDS = [
    "action", "at", "case_id", "corrects", "data", "from_state", "prev_hash", "quality",
    "reason", "recorded_at", "registry", "seq",
]  # fmt: skip
TAIL_FIELDS = ["signer", "to_state", "verifier"]
RECORDED_AFTER = timedelta(seconds=40)
CHECK_EVERY = 500  # one case in this many has its bodies compared with `Entry.body()`


def check_bodies(entries: list[Entry], bodies: list[str] | None = None) -> None:
    """Refuse to generate if a fast-built body or signed content ever differs from the real
    `Entry.body()` and `Entry.content()`, or a signature does not verify."""
    from bmac_workflow.keys import verifies

    # An entry's late fields are written only when it is late; generated entries never are.
    written = sorted(set(ENTRY_FIELDS) - {"minutes_late", "late_reason"})
    if written != [*HEAD_FIELDS, "signatures", *TAIL_FIELDS]:
        raise SystemExit("generator out of date: Entry has other fields now")
    for index, entry in enumerate(entries):
        if entry.__dict__.keys() != set(ENTRY_FIELDS):
            raise SystemExit("generator out of date: an entry's body lacks fields")
        if bodies is not None and bodies[index] != entry.body():
            raise SystemExit(f"generator out of date: the {entry.action} body is not the real one")
        signatures = entry.signatures or {}
        for part in ("signer", "verifier"):
            who = getattr(entry, part)
            if who is not None and not verifies(who.key, entry.content(), signatures[part]):
                raise SystemExit(f"generator out of date: the {entry.action} {part} signature")


def plan(
    case_id: int, seed: int, now: datetime, span_days: float, protocol: Protocol, adhoc: int = 0
) -> list[Event]:
    """What happened to one case, as (template, clinical time, data changes), up to `now`.

    Cases open over the last `span_days`; how far each got depends on its age, as in a clinic
    that keeps up: assessed days later, treated weeks later, visits when due. A few are
    ineligible, cancelled, left mid-processing, lost to follow-up or go on to arthroplasty.
    """
    rng = random.Random(seed * 1_000_003 + case_id)
    t = now - timedelta(days=rng.uniform(0, span_days))
    events: list[Event] = [("open", t, {})]
    fate = rng.random()
    t += timedelta(days=rng.uniform(1, 14))
    if t > now:
        return events
    if fate < 0.05:
        return [*events, ("assess_ineligible", t, {})]
    events.append(("assess", t, {}))
    t += timedelta(days=rng.uniform(1, 30))
    steps = processing()
    stop = rng.randrange(len(steps)) if fate < 0.10 else None
    for index, action in enumerate(steps):
        if t > now:
            return events
        if index == stop:
            return [*events, ("cancel", t, {})] if fate < 0.08 else events
        events.append((action, t, {}))
        t += timedelta(minutes=12)
    injected = events[-1][1]
    lost_after = rng.randrange(len(protocol.visits)) if rng.random() < 0.03 else None
    arthroplasty_at = rng.randrange(2, len(protocol.visits)) if rng.random() < 0.03 else None
    visits = sorted(protocol.visits.items(), key=lambda kv: kv[1])
    for index, (visit, days) in enumerate(visits):
        at = max(injected + timedelta(days=days, hours=rng.uniform(-48, 48)), t)
        if at > now:
            break
        if index == lost_after:
            # The clinic closes a case lost to follow-up two months after the missed visit.
            if at + timedelta(days=60) <= now:
                events.append(("close_lost", at + timedelta(days=60), {}))
            break
        replaced = index == arthroplasty_at
        events.append(
            (
                "record_follow_up",
                at,
                {"visit": visit, "vas": round(rng.uniform(0, 6), 1), "arthroplasty": replaced},
            )
        )
        t = at + timedelta(minutes=1)
        if replaced or index == len(visits) - 1:
            if t + timedelta(days=1) <= now:
                events.append(("close", t + timedelta(days=1), {}))
            break
    if adhoc:
        last = events[-1][1]
        extra = []
        for _ in range(adhoc):
            at = injected + (last - injected) * rng.random()
            extra.append(("record_follow_up", at, {"visit": "adhoc", "vas": 4.0}))
        closing = events.pop() if events[-1][0].startswith("close") else None
        events = sorted(events + extra, key=lambda e: e[1])
        if closing:
            events.append(closing)
    return events


class _Sign:
    """Ed25519 signatures through libsodium's `crypto_sign` (PyNaCl's), into one buffer kept
    per process: `nacl.bindings.crypto_sign` allocates and copies the signed message each time
    (a fifth more per signature). The signature is the first 64 bytes of the signed message."""

    def __init__(self) -> None:
        from nacl._sodium import ffi, lib

        self._ffi, self._lib = ffi, lib
        self._size = 0
        self._buffer: Any = None
        self._length = ffi.new("unsigned long long *")

    def __call__(self, message: bytes, secret_key: bytes) -> str:
        """The signature (base64) of `message` by the 64-byte secret key `secret_key`."""
        if len(message) + 64 > self._size:
            self._size = 2 * (len(message) + 64)
            self._buffer = self._ffi.new("unsigned char[]", self._size)
        if self._lib.crypto_sign(self._buffer, self._length, message, len(message), secret_key):
            raise RuntimeError("crypto_sign failed")
        return base64.b64encode(self._ffi.buffer(self._buffer, 64)[:]).decode("ascii")


class _Light:
    """What `record.apply` reads of an entry (a full `Entry` costs more to build)."""

    __slots__ = ("action", "at", "case_id", "reason", "recorded_at", "seq", "to_state")
    minutes_late = None  # generated entries are never late

    def __init__(self, **values: Any) -> None:
        for name, value in values.items():
            setattr(self, name, value)


def build_case(
    case_id: int,
    events: list[Event],
    templates: dict[str, Template],
    protocol: Protocol,
    protocol_id: int,
) -> tuple[tuple[Any, ...], list[EntryRowValues], list[DueRowValues], list[tuple[Any, ...]]]:
    """The case row, entry rows, worklist rows and trace index rows of one planned case,
    chained, signed and folded like the services do.

    An entry's canonical JSON is written here as text: its members before "signatures" (as
    `json.dumps(sort_keys=True)` orders them: action ... seq) from the entry, those after it
    (signer, to_state, verifier) from the template. The signed content is the two joined; the
    stored body has the signatures between them. `check_bodies` proves, on one case in
    `CHECK_EVERY`, that the text is `Entry.body()` and the signatures verify over
    `Entry.content()`; `bmac audit verify --full` accepts the whole (the smoke test)."""
    job = _JOB
    position, tails, signing, sign = job["registry"], job["tails"], job["signing"], job["sign"]
    rng = random.Random(case_id)
    knee = "left" if rng.random() < 0.5 else "right"
    specimen = f"SP-{case_id:07d}"
    # Each case's kit lots among LOTS of each kind (what `bmac trace lot` looks for), and
    # the trace index rows of every lot and device its steps name.
    lots = {"kit_lot": f"K-{rng.randrange(LOTS):04d}", "filter_lot": f"F-{rng.randrange(LOTS):04d}"}
    materials: list[tuple[Any, ...]] = []
    snapshot: CaseSnapshot | None = None
    previous, rows = GENESIS, []
    from_state = "null"
    for seq, (key, at, changes) in enumerate(events, start=1):
        if key == "open":
            template = templates["open"]
            data = {**template.data, "patient_ref": f"P-{case_id:07d}", "knee": knee}
        else:
            template = templates[key]
            data = {**template.data, **changes}
            if "specimen_id" in data:
                data["specimen_id"] = specimen
            data.update({k: v for k, v in lots.items() if k in data})
            if key == "inject":
                # What the rules derive from the clinical times (the audit derives it again).
                assert snapshot is not None and snapshot.harvested_at is not None
                harvested = from_iso(snapshot.harvested_at)
                data["knee"] = knee
                data["minutes_since_harvest"] = round(minutes_between(harvested, at), 2)
        naive = at.replace(tzinfo=None)  # UTC: isoformat is iso() at a fifth of the cost
        clinical = naive.isoformat(timespec="microseconds") + "Z"
        recorded = (naive + RECORDED_AFTER).isoformat(timespec="microseconds") + "Z"
        action, reason, tail = tails[key]
        head = (
            f'{{"action":{action},"at":"{clinical}","case_id":{case_id},"corrects":null,'
            f'"data":{canonical(data)},"from_state":{from_state},"prev_hash":"{previous}",'
            f'"quality":0,"reason":{reason},"recorded_at":"{recorded}","registry":{position},"seq":{seq}'
        )
        content = SIGNED_PREFIX + (head + tail).encode("utf-8")
        signer_key, verifier_key = signing[key]
        made = '"signatures":{"signer":"' + sign(content, signer_key)
        if verifier_key is not None:
            made += '","verifier":"' + sign(content, verifier_key)
        body = head + "," + made + '"}' + tail
        previous = hashlib.sha256(body.encode("utf-8")).hexdigest()
        rows.append((case_id, seq, body, previous))
        entry = _Light(
            action=template.action,
            at=clinical,
            case_id=case_id,
            reason=template.reason,
            recorded_at=recorded,
            seq=seq,
            to_state=template.to_state,
        )
        snapshot = apply(snapshot, entry, data)  # type: ignore[arg-type]
        step = workflow().by_trigger.get(template.action)
        materials += entry_materials(step, entry, data)
        from_state = f'"{template.to_state}"'
    assert snapshot is not None
    snapshot = replace(snapshot, head_hash=previous)
    if case_id % CHECK_EVERY == 1:
        check_bodies([Entry.from_body(row[2]) for row in rows], [row[2] for row in rows])
    case_row = (
        case_id,
        snapshot.patient_ref,
        snapshot.knee,
        snapshot.state,
        snapshot.version,
        snapshot.head_hash,
        protocol_id,
        snapshot.opened_at,
        snapshot.updated_at,
        snapshot.specimen_id,
        facts_text(snapshot),
    )
    due = [row._asdict() for row in due_rows(snapshot, protocol)]
    return case_row, rows, due, materials


@dataclass(frozen=True)
class Built:
    """What the generator built and how long it took."""

    path: Path
    cases: int
    entries: int
    seconds: float
    case_ids: dict[str, list[int]]


def _natural(chunk: range) -> list[tuple[int, bool]]:
    """Each case's entry count before ad hoc visits, and whether it was injected (a worker)."""
    job = _JOB
    found = []
    for case_id in chunk:
        events = plan(case_id, job["seed"], job["now"], job["span_days"], job["protocol"])
        found.append((len(events), any(e[0] == "inject" for e in events)))
    return found


def adhoc_counts(natural: list[tuple[int, bool]], entries: int, seed: int) -> list[int]:
    """How many ad hoc visits each case gets so that the log holds `entries` in all."""
    injected = [index for index, (_, was_injected) in enumerate(natural) if was_injected]
    counts = [0] * len(natural)
    missing = entries - sum(n for n, _ in natural)
    if missing > 0 and injected:
        rng = random.Random(seed)
        for index in rng.choices(injected, k=missing):
            counts[index] += 1
    return counts


def _secret_key(signed: SignedIn) -> bytes:
    """The 64-byte Ed25519 secret key (libsodium's form) of a signed-in operator."""
    from nacl.signing import SigningKey

    return bytes(SigningKey(signed.seed)._signing_key)


def build(
    path: Path,
    cases: int,
    entries: int,
    seed: int = 7,
    span_days: float = 900,
    batch: int = 30_000,
    workers: int = 2,
) -> Built:
    """Create a migrated database at `path` holding `cases` cases and about `entries` entries,
    every one signed, and the operators `OPERATORS` (PIN `PIN`)."""
    start = time.perf_counter()
    protocol = load(None)
    db = Database.open(f"sqlite:///{path}", check_schema=False)
    upgrade(db)
    now = utcnow()
    add_operators(db)
    signed = {who.id: signed_in(db, who) for who in SIGNERS}
    registry_length = signed[NURSE.id].registry.length
    db.dispose()
    templates = real_templates(path, signed)
    keys = {who: _secret_key(s) for who, s in signed.items()}
    db = sqlite3.connect(path, isolation_level=None)
    (protocol_id,) = db.execute(
        "SELECT id FROM protocols WHERE sha256 = ?", (protocol.sha256,)
    ).fetchone()
    _JOB.update(
        seed=seed,
        now=now,
        span_days=span_days,
        protocol=protocol,
        templates=templates,
        protocol_id=protocol_id,
        registry=registry_length,
        tails={name: t.pieces() for name, t in templates.items()},
        sign=_Sign(),
        signing={
            name: (keys[t.signer.id], keys[t.verifier.id] if t.verifier else None)
            for name, t in templates.items()
        },
    )
    # Loading, not clinic work: no fsync per batch; the file is checkpointed at the end.
    db.execute("PRAGMA synchronous = OFF")
    by_state: dict[str, list[int]] = {}
    total = 0
    chunks = list(_chunks(range(1, cases + 1), max(1, batch // 15)))
    # Both cores build and sign chains (fork: the workers inherit _JOB); this process inserts.
    with (
        multiprocessing.get_context("fork").Pool(workers) as pool,
        progress_bar(cases, "generating cases") as advance,
    ):
        natural = [n for part in pool.map(_natural, chunks) for n in part]
        extra = adhoc_counts(natural, entries, seed)
        jobs = [(chunk, extra[chunk.start - 1 : chunk.stop - 1]) for chunk in chunks]
        for case_rows, entry_rows, due_rows, materials in pool.imap(_build_chunk, jobs):
            db.execute("BEGIN")
            db.executemany(
                "INSERT INTO cases (id, patient_ref, knee, state, version, head_hash, "
                "protocol_id, opened_at, updated_at, specimen_id, facts) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                case_rows,
            )
            db.executemany(
                "INSERT INTO due_visits (case_id, visit, due_at, patient_ref, knee) "
                "VALUES (:case_id, :visit, :due_at, :patient_ref, :knee)",
                due_rows,
            )
            db.executemany(
                "INSERT INTO entries (case_id, seq, body, hash) VALUES (?, ?, ?, ?)", entry_rows
            )
            db.executemany(
                "INSERT INTO case_materials (case_id, seq, kind, ref, action, at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                materials,
            )
            db.execute("COMMIT")
            total += len(entry_rows)
            if advance is not None:  # a bar on stderr, only at a terminal
                advance(len(case_rows))
            for row in case_rows:
                by_state.setdefault(row[3], []).append(row[0])
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    _JOB.clear()
    return Built(path, cases, total, time.perf_counter() - start, by_state)


_JOB: dict[str, Any] = {}


def _build_chunk(
    job_part: tuple[range, list[int]],
) -> tuple[list[tuple[Any, ...]], list[EntryRowValues], list[DueRowValues], list[tuple[Any, ...]]]:
    job = _JOB
    chunk, extra = job_part
    materials: list[tuple[Any, ...]] = []
    case_rows: list[tuple[Any, ...]] = []
    entry_rows: list[EntryRowValues] = []
    due_rows: list[DueRowValues] = []
    for case_id, adhoc in zip(chunk, extra, strict=True):
        events = plan(
            case_id,
            job["seed"],
            job["now"],
            job["span_days"],
            job["protocol"],
            adhoc,
        )
        case_row, rows, due, used = build_case(
            case_id, events, job["templates"], job["protocol"], job["protocol_id"]
        )
        materials += used
        case_rows.append(case_row)
        entry_rows += rows
        due_rows += due
    return case_rows, entry_rows, due_rows, materials


def _chunks(values: range, size: int) -> Iterator[range]:
    for first in range(0, len(values), size):
        yield values[first : first + size]


def main() -> None:
    """Build a synthetic clinic database from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=1_500_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.path.exists():
        parser.error(f"{args.path} exists: give a new file")
    built = build(args.path, args.cases, args.entries, args.seed)
    counts = {state: len(ids) for state, ids in sorted(built.case_ids.items())}
    print(f"{built.cases} cases, {built.entries} entries in {built.seconds:.1f} s: {counts}")
    print(
        json.dumps(
            {"url": f"sqlite:///{built.path}", "operators": [o.id for o in OPERATORS], "pin": PIN}
        )
    )


if __name__ == "__main__":
    main()
