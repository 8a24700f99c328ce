"""The repository: the only place rows become domain objects and back.

Cases, their log and the protocols they run under are here; the operators and checkpoints in
operator_rows.py, the audit's bulk reads in audit_rows.py. Every statement is compiled from
the tables once (statements.py) and runs in the unit of work's transaction.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..errors import Conflict, InvalidData
from ..protocol import Protocol, parse
from ..record import CaseSnapshot, Entry, digest
from ..rules import DueRow
from .audit_rows import AuditRows
from .operator_rows import OperatorRows
from .statements import Rows, Statement
from .tables import cases, due_visits, entries, protocols


def facts_text(snapshot: CaseSnapshot) -> str:
    """The case row's `facts` column: the snapshot as JSON text. Not sorted: the volumes keep
    the order the case recorded them in, which is the order of the chain."""
    return json.dumps(snapshot.facts())


def case_of_row(row: Any) -> tuple[CaseSnapshot, int] | None:
    """The case and its protocol id from a (facts, protocol_id) row, or None for no row or for
    a case whose opening never committed (its row reserved, its facts still `{}`)."""
    if row is None or row[0] == "{}":
        return None
    return CaseSnapshot.from_facts(json.loads(row[0])), int(row[1])


@lru_cache(maxsize=32)
def stored_protocol(content: str) -> Protocol:
    """A stored protocol's text, parsed leniently (keys added since take their defaults)."""
    return parse(content, stored=True)


_CASE_QUERY = select(cases.c.facts, cases.c.protocol_id).where(cases.c.id == bindparam("case_id"))
_CASE = Statement(_CASE_QUERY)
_CASE_LOCKED = Statement(_CASE_QUERY.with_for_update())
_CASE_VERSION = Statement(select(cases.c.version).where(cases.c.id == bindparam("case_id")))
_PROTOCOL = Statement(select(protocols.c.content).where(protocols.c.id == bindparam("pid")))
_SPECIMEN = Statement(select(cases.c.id).where(cases.c.specimen_id == bindparam("specimen_id")))
_APPEND = Statement(insert(entries).inline(), ["case_id", "seq", "body", "hash"])
_ENTRIES = Statement(
    select(entries.c.body, entries.c.hash)
    .where(entries.c.case_id == bindparam("case_id"))
    .order_by(entries.c.seq)
)
_SAVE_FIELDS = ["state", "version", "head_hash", "updated_at", "facts"]


def _save_statement(fields: list[str]) -> Statement:
    return Statement(
        update(cases).where(
            cases.c.id == bindparam("b_case_id"), cases.c.version == bindparam("b_expected")
        ),
        fields,
    )


_SAVE_CASE = _save_statement(_SAVE_FIELDS)
# The specimen ID is written only when it changes: naming it in the UPDATE makes SQLite rewrite
# its unique index's page too, a fifth more WAL to fsync at every step (benchmarks/run.py).
_SAVE_CASE_AND_SPECIMEN = _save_statement([*_SAVE_FIELDS, "specimen_id"])
_CLEAR_DUE = Statement(delete(due_visits).where(due_visits.c.case_id == bindparam("case_id")))
_ADD_DUE = Statement(insert(due_visits), list(DueRow._fields))
_DUE = Statement(
    select(
        due_visits.c.case_id,
        due_visits.c.visit,
        due_visits.c.due_at,
        due_visits.c.patient_ref,
        due_visits.c.knee,
    )
    .where(due_visits.c.due_at < bindparam("horizon"))
    .order_by(due_visits.c.due_at, due_visits.c.case_id, due_visits.c.visit)
)
_PROTOCOLS_KEY = "bmac_protocols"


class Repository(OperatorRows, AuditRows, Rows):
    """Reads and writes the record on one unit of work's connection."""

    # -- protocols -------------------------------------------------------------------------
    def protocol_id(self, protocol: Protocol, now: str) -> int:
        """The id of this exact protocol content, storing it the first time it is used."""
        found = self._execute(
            select(protocols.c.id).where(protocols.c.sha256 == protocol.sha256)
        ).scalar()
        if found is not None:
            return int(found)
        # A version names one content: two files under one name would make the version a case
        # records say nothing about the limits it ran under.
        other = self._execute(
            select(protocols.c.sha256).where(protocols.c.version == protocol.version)
        ).scalar()
        if other is not None:
            raise InvalidData(
                f"protocol version {protocol.version!r} is already in use with other content "
                f"(sha256 {other[:12]}...): give the changed protocol file a new version"
            )
        conn = self._conn()
        try:
            # A savepoint: on PostgreSQL another workstation may store the same protocol at the
            # same moment; its row then wins and this transaction carries on with it.
            with conn.begin_nested():
                return int(
                    conn.execute(
                        insert(protocols)
                        .values(
                            version=protocol.version,
                            sha256=protocol.sha256,
                            content=protocol.content,
                            loaded_at=now,
                        )
                        .returning(protocols.c.id)
                    ).scalar_one()
                )
        except IntegrityError:
            return int(
                conn.execute(
                    select(protocols.c.id).where(protocols.c.sha256 == protocol.sha256)
                ).scalar_one()
            )

    def protocol(self, protocol_id: int) -> Protocol:
        """The protocol a case runs under, as stored when the case was opened."""
        conn = self._conn()
        cache: dict[int, Protocol] = conn.info.setdefault(_PROTOCOLS_KEY, {})
        if protocol_id not in cache:
            row = _PROTOCOL.run(conn, {"pid": protocol_id}).fetchone()
            if row is None:
                raise LookupError(f"no protocol {protocol_id}")
            cache[protocol_id] = stored_protocol(row[0])
        return cache[protocol_id]

    # -- cases -----------------------------------------------------------------------------
    def reserve_case(self, patient_ref: str, knee: str, protocol_id: int, now: str) -> int:
        """Insert the row of a new case and return its id; `save_case` fills it in."""
        statement = (
            insert(cases)
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
            .returning(cases.c.id)
        )
        return int(self._execute(statement).scalar_one())

    def get_case(self, case_id: int, lock: bool = False) -> tuple[CaseSnapshot, int] | None:
        """The case and its protocol id; `lock` holds its row until commit (PostgreSQL)."""
        query = _CASE_LOCKED if lock else _CASE
        return case_of_row(self._run(query, {"case_id": case_id}).fetchone())

    def case_version(self, case_id: int) -> int | None:
        """The case's entry count, or None when there is no such case."""
        row = self._run(_CASE_VERSION, {"case_id": case_id}).fetchone()
        return None if row is None else int(row[0])

    def save_case(self, snapshot: CaseSnapshot, before: CaseSnapshot | None) -> None:
        """Write the case's new state, only if nobody changed it since `before` (None: the
        case's first entry)."""
        specimen_changed = before is None or before.specimen_id != snapshot.specimen_id
        statement = _SAVE_CASE_AND_SPECIMEN if specimen_changed else _SAVE_CASE
        try:
            result = self._run(
                statement,
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
        row = self._run(_SPECIMEN, {"specimen_id": specimen_id}).fetchone()
        return None if row is None else int(row[0])

    def list_cases(
        self, state: str | None, limit: int, offset: int = 0
    ) -> tuple[list[tuple[CaseSnapshot, int]], int]:
        """A page of cases with their protocol ids, newest first, and how many match in all."""
        query = select(cases.c.facts, cases.c.protocol_id).where(cases.c.version > 0)
        count = select(func.count()).select_from(cases).where(cases.c.version > 0)
        if state:
            query = query.where(cases.c.state == state)
            count = count.where(cases.c.state == state)
        rows = self._execute(query.order_by(cases.c.id.desc()).limit(limit).offset(offset))
        found = [(CaseSnapshot.from_facts(json.loads(r[0])), int(r[1])) for r in rows]
        return found, int(self._execute(count).scalar_one())

    def case_ids(self) -> list[int]:
        """Every case that has an entry, oldest first."""
        query = select(cases.c.id).where(cases.c.version > 0).order_by(cases.c.id)
        return [int(i) for i in self._execute(query).scalars()]

    def recent_cases(self, limit: int) -> list[tuple[int, str, str, str]]:
        """(id, patient ref, knee, state) of the newest cases (shell completion)."""
        query = (
            select(cases.c.id, cases.c.patient_ref, cases.c.knee, cases.c.state)
            .where(cases.c.version > 0)
            .order_by(cases.c.id.desc())
            .limit(limit)
        )
        return [(int(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in self._execute(query)]

    def set_due_visits(self, case_id: int, rows: list[DueRow]) -> None:
        """Replace the case's rows of the `followup due` worklist with `rows`."""
        self._run(_CLEAR_DUE, {"case_id": case_id})
        for row in rows:
            self._run(_ADD_DUE, row._asdict())

    def visits_due_before(self, horizon: str) -> list[DueRow]:
        """Every worklist row due before `horizon`, earliest first."""
        return [DueRow(*row) for row in self._run(_DUE, {"horizon": horizon}).fetchall()]

    # -- the log ---------------------------------------------------------------------------
    def append(self, entry: Entry) -> str:
        """Append an entry and return its hash; a taken (case, seq) means someone logged first."""
        body = entry.body()
        entry_hash = digest(body)
        try:
            self._run(
                _APPEND,
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
        rows = self._run(_ENTRIES, {"case_id": case_id}).fetchall()
        return [(Entry.from_body(body), entry_hash) for body, entry_hash in rows]
