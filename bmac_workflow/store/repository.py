"""The only place rows become domain objects and back."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..errors import Conflict, InvalidData
from ..people import Operator
from ..protocol import Protocol, parse
from ..record import CaseSnapshot, Entry, digest
from ..rules import DueVisit
from ..timeutil import iso
from .hotpath import Statement
from .lookup import case_of_row
from .models import (
    CaseRow,
    CheckpointRow,
    DueVisitRow,
    EntryRow,
    OperatorEventRow,
    OperatorRow,
    ProtocolRow,
)


def facts_text(snapshot: CaseSnapshot) -> str:
    """The case row's `facts` column: the snapshot as JSON text."""
    return json.dumps(snapshot.facts(), sort_keys=True)


def due_visit_row(case: CaseSnapshot, visit: DueVisit) -> dict[str, Any]:
    """The worklist row of one visit of a case."""
    return {
        "case_id": case.case_id,
        "visit": visit.visit,
        "due_at": iso(visit.due_at),
        "patient_ref": case.patient_ref,
        "knee": case.knee,
    }


@lru_cache(maxsize=32)
def _parse_protocol(content: str) -> Protocol:
    return parse(content)


# The statements of the step-commit path (see hotpath.py for why they skip SQLAlchemy's
# per-call work).
_CASE_QUERY = select(CaseRow.facts, CaseRow.protocol_id).where(CaseRow.id == bindparam("case_id"))
_CASE = Statement(_CASE_QUERY)
_CASE_LOCKED = Statement(_CASE_QUERY.with_for_update())
_CASE_VERSION = Statement(select(CaseRow.version).where(CaseRow.id == bindparam("case_id")))
_PROTOCOL = Statement(select(ProtocolRow.content).where(ProtocolRow.id == bindparam("protocol_id")))
_SPECIMEN = Statement(select(CaseRow.id).where(CaseRow.specimen_id == bindparam("specimen_id")))
_APPEND = Statement(insert(EntryRow).inline(), ["case_id", "seq", "body", "hash"])
_SAVE_FIELDS = ["state", "version", "head_hash", "updated_at", "facts"]


def _save_statement(fields: list[str]) -> Statement:
    return Statement(
        update(CaseRow).where(
            CaseRow.id == bindparam("b_case_id"), CaseRow.version == bindparam("b_expected")
        ),
        fields,
    )


_SAVE_CASE = _save_statement(_SAVE_FIELDS)
# The specimen ID is written only when it changes: naming it in the UPDATE makes SQLite rewrite
# its unique index's page too, a fifth more WAL to fsync at every step (benchmarks/run.py).
_SAVE_CASE_AND_SPECIMEN = _save_statement([*_SAVE_FIELDS, "specimen_id"])
_CLEAR_DUE = Statement(delete(DueVisitRow).where(DueVisitRow.case_id == bindparam("case_id")))
_ADD_DUE = Statement(insert(DueVisitRow), ["case_id", "visit", "due_at", "patient_ref", "knee"])
# `followup due` reads thousands of rows at a big clinic: no per-row SQLAlchemy work either.
_DUE = Statement(
    select(
        DueVisitRow.case_id,
        DueVisitRow.patient_ref,
        DueVisitRow.knee,
        DueVisitRow.visit,
        DueVisitRow.due_at,
    )
    .where(DueVisitRow.due_at < bindparam("horizon"))
    .order_by(DueVisitRow.due_at, DueVisitRow.case_id)
)
# Protocol rows never change (a new content is a new row), so a connection may keep them.
_PROTOCOLS = "bmac_protocols"


class Repository:
    """Reads and writes cases, entries, operators and protocols inside one unit of work."""

    def __init__(self, connection: Connection, session: Callable[[], Session]) -> None:
        self._connection = connection
        self._session = session

    @property
    def session(self) -> Session:
        """The unit of work's session (made on first use) for the statements that need one."""
        return self._session()

    def _conn(self) -> Connection:
        """The connection the unit of work's transaction runs on, in that transaction."""
        conn = self._connection
        if not conn.in_transaction():
            conn.begin()  # BEGIN IMMEDIATE on SQLite for a writing unit of work
        return conn

    # -- protocols -------------------------------------------------------------------------
    def protocol_id(self, protocol: Protocol, now: str) -> int:
        """The id of this exact protocol content, storing it the first time it is used."""
        found = self.session.execute(
            select(ProtocolRow.id).where(ProtocolRow.sha256 == protocol.sha256)
        ).scalar()
        if found is not None:
            return int(found)
        # A version names one content: two files under one name would make the version a case
        # records say nothing about the limits it ran under.
        other = self.session.execute(
            select(ProtocolRow.sha256).where(ProtocolRow.version == protocol.version)
        ).scalar()
        if other is not None:
            raise InvalidData(
                f"protocol version {protocol.version!r} is already in use with other content "
                f"(sha256 {other[:12]}...): give the changed protocol file a new version"
            )
        try:
            # A savepoint: on PostgreSQL another workstation may store the same protocol at the
            # same moment; its row then wins and this transaction carries on with it.
            with self.session.begin_nested():
                return int(
                    self.session.execute(
                        insert(ProtocolRow)
                        .values(
                            version=protocol.version,
                            sha256=protocol.sha256,
                            content=protocol.content,
                            loaded_at=now,
                        )
                        .returning(ProtocolRow.id)
                    ).scalar_one()
                )
        except IntegrityError:
            return int(
                self.session.execute(
                    select(ProtocolRow.id).where(ProtocolRow.sha256 == protocol.sha256)
                ).scalar_one()
            )

    def protocol(self, protocol_id: int) -> Protocol:
        """The protocol a case runs under, as stored when the case was opened."""
        conn = self._conn()
        cache: dict[int, Protocol] = conn.info.setdefault(_PROTOCOLS, {})
        if protocol_id not in cache:
            row = _PROTOCOL.run(conn, {"protocol_id": protocol_id}).fetchone()
            if row is None:
                raise LookupError(f"no protocol {protocol_id}")
            cache[protocol_id] = _parse_protocol(row[0])
        return cache[protocol_id]

    # -- cases -----------------------------------------------------------------------------
    def reserve_case(self, patient_ref: str, knee: str, protocol_id: int, now: str) -> int:
        """Insert the row of a new case and return its id; `save_case` fills it in."""
        return int(
            self.session.execute(
                insert(CaseRow)
                .values(
                    patient_ref=patient_ref,
                    knee=knee,
                    state="",
                    version=0,
                    head_hash="",
                    protocol_id=protocol_id,
                    opened_at=now,
                    updated_at=now,
                    facts="{}",
                )
                .returning(CaseRow.id)
            ).scalar_one()
        )

    def get_case(self, case_id: int, lock: bool = False) -> tuple[CaseSnapshot, int] | None:
        """The case and its protocol id; `lock` holds its row until commit (PostgreSQL)."""
        query = _CASE_LOCKED if lock else _CASE
        return case_of_row(query.run(self._conn(), {"case_id": case_id}).fetchone())

    def case_version(self, case_id: int) -> int | None:
        """The case's entry count, or None when there is no such case."""
        row = _CASE_VERSION.run(self._conn(), {"case_id": case_id}).fetchone()
        return None if row is None else int(row[0])

    def save_case(self, snapshot: CaseSnapshot, before: CaseSnapshot | None) -> None:
        """Write the case's new state, only if nobody changed it since `before` (None: the
        case's first entry)."""
        specimen_changed = before is None or before.specimen_id != snapshot.specimen_id
        statement = _SAVE_CASE_AND_SPECIMEN if specimen_changed else _SAVE_CASE
        try:
            result = statement.run(
                self._conn(),
                {
                    "b_case_id": snapshot.case_id,
                    "b_expected": before.version if before else 0,
                    "state": snapshot.state,
                    "version": snapshot.version,
                    "head_hash": snapshot.head_hash,
                    "updated_at": snapshot.updated_at,
                    "specimen_id": snapshot.specimen_id,
                    "facts": facts_text(snapshot),
                },
            )
        except IntegrityError:
            raise InvalidData(
                f"specimen ID {snapshot.specimen_id} is already used by another case: "
                "scan the label again; every specimen ID is unique"
            ) from None
        if result.rowcount != 1:
            raise Conflict(
                f"case {snapshot.case_id} changed under you: check `bmac case status "
                f"{snapshot.case_id}`"
            )

    def case_with_specimen(self, specimen_id: str) -> int | None:
        """The case that collected `specimen_id`, if any."""
        row = _SPECIMEN.run(self._conn(), {"specimen_id": specimen_id}).fetchone()
        return None if row is None else int(row[0])

    def list_cases(
        self, state: str | None, limit: int, offset: int = 0
    ) -> tuple[list[tuple[CaseSnapshot, int]], int]:
        """A page of cases with their protocol ids, newest first, and how many match in all."""
        query = select(CaseRow.facts, CaseRow.protocol_id).where(CaseRow.version > 0)
        count = select(func.count()).select_from(CaseRow)
        if state:
            query = query.where(CaseRow.state == state)
            count = count.where(CaseRow.state == state)
        rows = self.session.execute(query.order_by(CaseRow.id.desc()).limit(limit).offset(offset))
        cases = [(CaseSnapshot.from_facts(json.loads(r.facts)), int(r.protocol_id)) for r in rows]
        return cases, int(self.session.execute(count).scalar_one())

    def set_due_visits(self, case: CaseSnapshot, visits: list[DueVisit]) -> None:
        """Replace the case's rows of the `followup due` worklist with `visits`."""
        conn = self._conn()
        _CLEAR_DUE.run(conn, {"case_id": case.case_id})
        for visit in visits:
            _ADD_DUE.run(conn, due_visit_row(case, visit))

    def visits_due_before(self, horizon: str) -> list[tuple[int, str, str, str, str]]:
        """(case id, patient ref, knee, visit, due at) of every visit due before `horizon`,
        earliest first."""
        return list(_DUE.run(self._conn(), {"horizon": horizon}).fetchall())

    def case_rows(self) -> Iterator[Any]:
        """Every case row as stored (for the audit)."""
        yield from self.session.execute(select(CaseRow).order_by(CaseRow.id)).scalars()

    # -- the log ---------------------------------------------------------------------------
    def append(self, entry: Entry) -> str:
        """Append an entry and return its hash; a taken (case, seq) means someone logged first."""
        body = entry.body()
        entry_hash = digest(body)
        try:
            _APPEND.run(
                self._conn(),
                {"case_id": entry.case_id, "seq": entry.seq, "body": body, "hash": entry_hash},
            )
        except IntegrityError:
            raise Conflict(
                f"case {entry.case_id} changed under you: entry {entry.seq} was logged by someone "
                f"else first; check `bmac case status {entry.case_id}`"
            ) from None
        return entry_hash

    def entries(self, case_id: int) -> list[tuple[Entry, str]]:
        """A case's entries with their stored hashes, oldest first."""
        rows = self.session.execute(
            select(EntryRow.body, EntryRow.hash)
            .where(EntryRow.case_id == case_id)
            .order_by(EntryRow.seq)
        )
        return [(Entry.from_body(r.body), r.hash) for r in rows]

    # -- operators -------------------------------------------------------------------------
    def operator(self, operator_id: str, lock: bool = False) -> Operator | None:
        """The operator with this id, if any; `lock` holds its row until commit (PostgreSQL)."""
        row = self.session.get(OperatorRow, operator_id, with_for_update=lock or None)
        if row is None:
            return None
        return Operator(
            id=row.id,
            name=row.name,
            role=row.role,
            active=row.active,
            pin_hash=row.pin_hash,
            failed_pins=row.failed_pins,
            locked_until=row.locked_until,
        )

    def operators(self) -> list[Operator]:
        """Every operator, by id."""
        ids = self.session.execute(select(OperatorRow.id).order_by(OperatorRow.id)).scalars()
        return [op for op in (self.operator(i) for i in ids) if op is not None]

    def operator_count(self) -> int:
        """How many operators exist (the first must be an admin)."""
        return int(self.session.execute(select(func.count()).select_from(OperatorRow)).scalar_one())

    def add_operator(self, operator: Operator, now: str) -> None:
        """Store a new operator."""
        self.session.execute(
            insert(OperatorRow).values(
                id=operator.id,
                name=operator.name,
                role=operator.role,
                active=operator.active,
                pin_hash=operator.pin_hash,
                failed_pins=0,
                locked_until=None,
                created_at=now,
            )
        )

    def update_operator(self, operator_id: str, **values: Any) -> None:
        """Change an operator's active flag, PIN hash or lock counters."""
        self.session.execute(
            update(OperatorRow).where(OperatorRow.id == operator_id).values(**values)
        )

    def operator_event(
        self, operator_id: str, action: str, at: str, by: str | None, detail: dict[str, Any]
    ) -> None:
        """Append to the operators' history (never a PIN)."""
        self.session.execute(
            insert(OperatorEventRow).values(
                operator_id=operator_id,
                action=action,
                at=at,
                by_operator=by,
                detail=json.dumps(detail, sort_keys=True),
            )
        )

    # -- checkpoints -----------------------------------------------------------------------
    def add_checkpoint(
        self, taken_at: str, operator_id: str, heads: dict[str, int], value: str
    ) -> None:
        """Store a checkpoint: its digest and each case's entry count it covers."""
        self.session.execute(
            insert(CheckpointRow).values(
                taken_at=taken_at,
                operator_id=operator_id,
                cases=len(heads),
                entries=sum(heads.values()),
                heads=json.dumps(heads, sort_keys=True),
                digest=value,
            )
        )

    def checkpoint_heads(self, value: str) -> dict[str, int] | None:
        """The entry count per case that a stored checkpoint covers, if that digest was taken."""
        heads = self.session.execute(
            select(CheckpointRow.heads).where(CheckpointRow.digest == value)
        ).scalar()
        return None if heads is None else dict(json.loads(heads))
