"""A database in dicts, for testing the services without SQL: `FakeDatabase` gives units of
work with a `FakeRepository` that keeps the record as the store does (entries as canonical
bodies with their hashes, the case row as JSON facts), and refuses what its constraints refuse.

A unit of work works on a copy of the tables: `commit()` makes the copy the database's, and
whatever was not committed is gone when the unit of work ends (as a rollback).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from bmac_workflow.checkpoint import StoredCheckpoint
from bmac_workflow.errors import Conflict, InvalidData
from bmac_workflow.operators import Operator
from bmac_workflow.protocol import Protocol, parse
from bmac_workflow.record import CaseSnapshot, Entry, digest
from bmac_workflow.refusal import Refusal
from bmac_workflow.registry import RegistryEntry
from bmac_workflow.rules import DueRow


@dataclass(frozen=True)
class CaseRow:
    """A row of `cases`: what `reserve_case` inserts and `save_case` fills in."""

    id: int
    patient_ref: str
    knee: str
    protocol_id: int
    opened_at: str
    state: str = ""
    version: int = 0
    head_hash: str = ""
    facts: str = "{}"
    specimen_id: str | None = None


@dataclass
class Tables:
    """Every table of the record; the values are immutable, so a copy is one per dict."""

    cases: dict[int, CaseRow] = field(default_factory=dict)
    entries: dict[tuple[int, int], tuple[str, str]] = field(default_factory=dict)
    protocols: dict[int, tuple[str, str, str]] = field(default_factory=dict)  # version, sha, text
    operators: dict[str, Operator] = field(default_factory=dict)
    operator_events: list[tuple[str, str, str, str | None, str]] = field(default_factory=list)
    due_visits: dict[int, tuple[DueRow, ...]] = field(default_factory=dict)
    checkpoints: list[StoredCheckpoint] = field(default_factory=list)
    registry: list[tuple[int, str, str]] = field(default_factory=list)  # seq, body, hash
    refusals: dict[tuple[int, int], tuple[str, str]] = field(default_factory=dict)  # body, hash
    quality: list[tuple[int, str, str, str, str]] = field(default_factory=list)
    materials: set[tuple[Any, ...]] = field(default_factory=set)
    deviations: dict[int, tuple[int, int, str, str, str, int | None]] = field(default_factory=dict)
    last_case_id: int = 0  # ids are never reused (AUTOINCREMENT)

    def copy(self) -> Tables:
        return Tables(*(type(v)(v) for v in self.__dict__.values()))  # type: ignore[call-arg]


@lru_cache(maxsize=8)
def _stored(content: str) -> Protocol:
    return parse(content, stored=True)


def _in(case: int, case_id: int | None, low: int | None, high: int | None) -> bool:
    """Whether `case` is the one case asked for, or lies in [low, high] (open ends)."""
    return (
        (case_id is None or case == case_id)
        and (low is None or case >= low)
        and (high is None or case <= high)
    )


class FakeRepository:
    """The repository's methods on `tables` (store/repository.py, operator_rows.py,
    audit_rows.py); `lock` is accepted and means nothing here."""

    def __init__(self, tables: Tables) -> None:
        self.tables = tables

    # -- protocols and cases ---------------------------------------------------------------
    def protocol_id(self, protocol: Protocol, now: str) -> int:
        for pid, (version, sha, _) in self.tables.protocols.items():
            if sha == protocol.sha256:
                return pid
            if version == protocol.version:
                raise InvalidData(f"protocol version {version!r} is already in use")
        pid = len(self.tables.protocols) + 1
        self.tables.protocols[pid] = (protocol.version, protocol.sha256, protocol.content)
        return pid

    def protocol(self, protocol_id: int) -> Protocol:
        return _stored(self.tables.protocols[protocol_id][2])

    def protocol_by_sha256(self, sha256: str) -> Protocol | None:
        found = [text for _, sha, text in self.tables.protocols.values() if sha == sha256]
        return _stored(found[0]) if found else None

    def protocol_shas(self) -> dict[int, str]:
        return {pid: digest(text) for pid, (_, _, text) in self.tables.protocols.items()}

    def reserve_case(self, patient_ref: str, knee: str, protocol_id: int, now: str) -> int:
        self.tables.last_case_id += 1
        case_id = self.tables.last_case_id
        self.tables.cases[case_id] = CaseRow(case_id, patient_ref, knee, protocol_id, now)
        return case_id

    def settle_cases(self) -> None:
        """Nothing is ever in flight in a dict."""

    def last_case_id(self) -> int:
        return max(self.tables.cases, default=0)

    def get_case(self, case_id: int, lock: bool = False) -> tuple[CaseSnapshot, int] | None:
        row = self.tables.cases.get(case_id)
        if row is None or row.facts == "{}":
            return None
        return CaseSnapshot.from_facts(json.loads(row.facts)), row.protocol_id

    def case_version(self, case_id: int) -> int | None:
        row = self.tables.cases.get(case_id)
        return None if row is None else row.version

    def save_case(self, snapshot: CaseSnapshot, before: CaseSnapshot | None) -> None:
        row = self.tables.cases.get(snapshot.case_id)
        if row is None or row.version != (before.version if before else 0):
            raise Conflict(f"case {snapshot.case_id} changed under you")
        holder = self.case_with_specimen(snapshot.specimen_id) if snapshot.specimen_id else None
        if holder not in (None, snapshot.case_id):
            raise InvalidData(f"specimen ID {snapshot.specimen_id} is already used")
        self.tables.cases[snapshot.case_id] = replace(
            row,
            state=snapshot.state,
            version=snapshot.version,
            head_hash=snapshot.head_hash,
            facts=json.dumps(snapshot.facts(), sort_keys=True),
            specimen_id=snapshot.specimen_id,
        )

    def case_with_specimen(self, specimen_id: str) -> int | None:
        found = [i for i, r in self.tables.cases.items() if r.specimen_id == specimen_id]
        return found[0] if found else None

    def list_cases(
        self, state: str | None, limit: int, offset: int = 0
    ) -> tuple[list[tuple[CaseSnapshot, int]], int]:
        ids = [i for i in sorted(self.tables.cases, reverse=True) if self._listed(i, state)]
        page = [self.get_case(i) for i in ids[offset : offset + limit]]
        return [found for found in page if found is not None], len(ids)

    def _listed(self, case_id: int, state: str | None) -> bool:
        row = self.tables.cases[case_id]
        return row.version > 0 and (not state or row.state == state)

    def case_ids(self) -> list[int]:
        return [i for i in sorted(self.tables.cases) if self._listed(i, None)]

    def set_due_visits(self, case_id: int, rows: list[DueRow]) -> None:
        self.tables.due_visits[case_id] = tuple(rows)

    def visits_due_before(self, horizon: str) -> list[DueRow]:
        rows = [r for rs in self.tables.due_visits.values() for r in rs if r.due_at < horizon]
        return sorted(rows, key=lambda r: (r.due_at, r.case_id, r.visit))

    # -- the log ---------------------------------------------------------------------------
    def append_and_save(
        self, entry: Entry, body: str, entry_hash: str, after: CaseSnapshot, before: CaseSnapshot
    ) -> None:
        assert digest(body) == entry_hash == after.head_hash
        self.append(entry)
        self.save_case(after, before)

    def append(self, entry: Entry) -> str:
        key = (entry.case_id, entry.seq)
        if key in self.tables.entries:
            raise Conflict(f"case {entry.case_id} changed under you: entry {entry.seq} exists")
        body = entry.body()
        self.tables.entries[key] = (body, digest(body))
        return digest(body)

    def last_refusal(self, case_id: int) -> tuple[int, str] | None:
        seqs = sorted(seq for case, seq in self.tables.refusals if case == case_id)
        return (seqs[-1], self.tables.refusals[(case_id, seqs[-1])][1]) if seqs else None

    def append_refusal(self, refusal: Refusal) -> str:
        key = (refusal.case_id, refusal.seq)
        if key in self.tables.refusals:
            raise Conflict(f"case {refusal.case_id}: another refusal was logged at once")
        body = refusal.body()
        self.tables.refusals[key] = (body, digest(body))
        return digest(body)

    def refusal_rows(self, case_id: int | None = None) -> list[tuple[int, int, str, str]]:
        return [
            (case, seq, body, found)
            for (case, seq), (body, found) in sorted(self.tables.refusals.items())
            if case_id is None or case == case_id
        ]

    def entries(self, case_id: int) -> list[tuple[Entry, str]]:
        return [(Entry.from_body(body), h) for _, _, body, h in self.entry_rows(case_id)]

    def entry_rows(
        self, case_id: int | None = None, low: int | None = None, high: int | None = None
    ) -> Iterable[tuple[int, int, str, str]]:
        entries = sorted(self.tables.entries.items())
        return [(c, s, b, h) for (c, s), (b, h) in entries if _in(c, case_id, low, high)]

    def entry_count(self, case_id: int | None = None) -> int:
        return len(list(self.entry_rows(case_id)))

    def current_heads(self) -> dict[str, tuple[int, str]]:
        heads: dict[str, tuple[int, str]] = {}
        for c, s, body, _ in self.entry_rows():
            heads[str(c)] = (s, digest(body))
        return heads

    def head_hashes(self, wanted: list[tuple[int, int]]) -> dict[tuple[int, int], str]:
        entries = self.tables.entries
        return {(c, s): digest(entries[c, s][0]) for c, s in wanted if (c, s) in entries}

    def entry_bounds(self) -> tuple[int, int | None, int | None]:
        cases = [c for c, _ in self.tables.entries]
        return len(cases), min(cases, default=None), max(cases, default=None)

    def case_rows_for_audit(
        self, case_id: int | None = None, low: int | None = None, high: int | None = None
    ) -> dict[int, CaseRow]:
        return {i: r for i, r in self.tables.cases.items() if _in(i, case_id, low, high)}

    def due_rows_by_case(
        self, case_id: int | None = None, low: int | None = None, high: int | None = None
    ) -> dict[int, set[DueRow]]:
        rows = self.tables.due_visits.items()
        return {i: set(r) for i, r in rows if r and _in(i, case_id, low, high)}

    # -- operators and checkpoints ---------------------------------------------------------
    def operator(self, operator_id: str, lock: bool = False) -> Operator | None:
        return self.tables.operators.get(operator_id)

    def operator_id_like(self, operator_id: str) -> str | None:
        return next((i for i in self.tables.operators if i.lower() == operator_id.lower()), None)

    def operators(self) -> list[Operator]:
        return [self.tables.operators[i] for i in sorted(self.tables.operators)]

    def operator_count(self) -> int:
        return len(self.tables.operators)

    def add_operator(self, operator: Operator, now: str) -> None:
        assert operator.id not in self.tables.operators, "operators.id is the primary key"
        self.tables.operators[operator.id] = replace(operator, failed_pins=0, locked_until=None)

    def update_operator(self, operator_id: str, **values: Any) -> None:
        if operator_id in self.tables.operators:
            self.tables.operators[operator_id] = replace(
                self.tables.operators[operator_id], **values
            )

    def operator_event(
        self, operator_id: str, action: str, at: str, by: str | None, detail: dict[str, Any]
    ) -> None:
        self.tables.operator_events.append(
            (operator_id, action, at, by, json.dumps(detail, sort_keys=True))
        )

    def add_checkpoint(
        self,
        taken_at: str,
        operator_id: str,
        heads: dict[str, int],
        value: str,
        body: str | None = None,
        signature: str | None = None,
    ) -> None:
        heads_text = json.dumps(heads, sort_keys=True)
        self.tables.checkpoints.append(
            StoredCheckpoint(taken_at, operator_id, value, heads_text, body, signature)
        )

    def checkpoint_rows(self) -> list[StoredCheckpoint]:
        return list(self.tables.checkpoints)

    def checkpoint_heads(self, value: str) -> dict[str, int] | None:
        found = [c.heads for c in self.tables.checkpoints if c.digest == value]
        return dict(json.loads(found[0])) if found else None

    def checkpoints(self) -> list[dict[str, Any]]:
        return [
            {
                "taken_at": c.taken_at,
                "operator": c.operator_id,
                "digest": c.digest,
                "heads": json.loads(c.heads),
                "body": c.body,
                "signature": c.signature,
            }
            for c in self.tables.checkpoints
        ]

    # -- the operator registry -------------------------------------------------------------
    def registry_rows(self) -> list[tuple[int, str, str]]:
        return list(self.tables.registry)

    def registry_length(self) -> int:
        return len(self.tables.registry)

    def append_registry(self, entry: RegistryEntry) -> str:
        if entry.seq != len(self.tables.registry) + 1:
            raise Conflict("the operator registry changed while this command ran")
        body = entry.body()
        self.tables.registry.append((entry.seq, body, digest(body)))
        return digest(body)

    # -- quality records (store/quality_rows.py) -------------------------------------------
    def quality_rows(self, about: list[tuple[str, str]] | None = None) -> list[tuple[Any, ...]]:
        rows = list(self.tables.quality)
        return rows if about is None else [r for r in rows if (r[1], r[2]) in set(about)]

    def quality_length(self) -> int:
        return len(self.tables.quality)

    def quality_position(self) -> tuple[int, bool]:
        return len(self.tables.quality), any(r[1] == "lot" for r in self.tables.quality)

    def case_lots(self, case_id: int) -> set[str]:
        return {r[3] for r in self.tables.materials if r[0] == case_id and r[2] == "lot"}

    def add_materials(self, rows: Any) -> None:
        self.tables.materials.update(tuple(r) for r in rows)

    def set_materials(self, case_id: int, rows: Any) -> None:
        self.tables.materials = {r for r in self.tables.materials if r[0] != case_id}
        self.add_materials(rows)

    def open_deviation(self, case_id: int, seq: int, kind: str, at: str, by: str) -> int:
        number = len(self.tables.deviations) + 1
        self.tables.deviations[number] = (case_id, seq, kind, at, by, None)
        return number

    def close_deviation(self, case_id: int, seq: int, closed_seq: int) -> None:
        for number, row in self.tables.deviations.items():
            if row[:2] == (case_id, seq):
                self.tables.deviations[number] = (*row[:5], closed_seq)

    def deviations(
        self, case_id: int | None = None, open_only: bool = False, number: int | None = None
    ) -> list[Any]:
        from bmac_workflow.store.quality_rows import DeviationRow

        return [
            DeviationRow(n, *row)
            for n, row in sorted(self.tables.deviations.items())
            if (case_id is None or row[0] == case_id)
            and (not open_only or row[5] is None)
            and (number is None or n == number)
        ]

    def materials_by_case(
        self, case_id: int | None, low: int | None, high: int | None
    ) -> dict[int, set[tuple[Any, ...]]]:
        found: dict[int, set[tuple[Any, ...]]] = {}
        for row in self.tables.materials:
            if _in(row[0], case_id, low, high):
                found.setdefault(row[0], set()).add(row)
        return found

    def deviations_by_case(
        self, case_id: int | None, low: int | None, high: int | None
    ) -> dict[int, list[Any]]:
        found: dict[int, list[Any]] = {}
        for row in self.deviations():
            if _in(row.case_id, case_id, low, high):
                found.setdefault(row.case_id, []).append(row)
        return found


class FakeUnitOfWork:
    """One transaction on a copy of the tables: only `commit()` makes its work the database's."""

    def __init__(self, db: FakeDatabase, write: bool) -> None:
        self.db, self.write, self.committed = db, write, False

    def __enter__(self) -> FakeUnitOfWork:
        if self.write:
            assert not self.db.writing, "a second write unit of work while one is open"
            self.db.writing = True
        self.repo = FakeRepository(self.db.tables.copy())
        self.db.units.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        # Whatever was not committed is dropped with `self.repo`'s copy of the tables.
        if self.write:
            self.db.writing = False

    def commit(self) -> None:
        self.db.tables = self.repo.tables.copy()
        self.committed = True


@dataclass
class FakeDatabase:
    """The `Database` interface the services use (`read()`, `write()`), on dicts."""

    tables: Tables = field(default_factory=Tables)
    units: list[FakeUnitOfWork] = field(default_factory=list)
    writing: bool = False
    dialect: str = "fake"

    def read(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self, write=False)

    def glance(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self, write=False)

    def write(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self, write=True)

    def committed_writes(self) -> int:
        """How many write units of work committed (a write that commits twice counts once)."""
        return sum(1 for unit in self.units if unit.write and unit.committed)

    def in_memory(self) -> bool:
        return True

    def server_time(self) -> None:
        """No server: the workstation's clock is the record's (as on SQLite)."""
        return None
