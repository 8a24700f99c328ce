"""The repository: the only place rows become domain objects and back.

Cases, their log and the protocols they run under are here; the operators and checkpoints in
operator_rows.py, the audit's bulk reads in audit_rows.py. Every statement is compiled from
the tables once (statements.py) and runs in the unit of work's transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError

from ..errors import InvalidData
from ..json_text import read_json
from ..protocol import Protocol, parse
from ..record import CaseSnapshot, Entry, digest
from ..rules import DueRow
from .access_rows import AccessRows
from .audit_rows import AuditRows
from .board_rows import BoardRows
from .case_writes import CaseWrites
from .operator_rows import OperatorRows
from .quality_rows import QualityRows
from .refusal_rows import RefusalRows
from .registry_rows import RegistryRows
from .statements import Statement
from .tables import cases, entries, protocols


def case_of_row(row: Any) -> tuple[CaseSnapshot, int] | None:
    """The case and its protocol id from a (facts, protocol_id) row, or None for no row or for
    a case whose opening never committed (its row reserved, its facts still `{}`)."""
    if row is None or row[0] == "{}":
        return None
    return CaseSnapshot.from_facts(read_json(row[0])), int(row[1])


@lru_cache(maxsize=32)
def stored_protocol(content: str) -> Protocol:
    """A stored protocol's text, parsed leniently (keys added since take their defaults)."""
    return parse(content, stored=True)


# Every writing command on PostgreSQL asks it once: precompiled, run on the driver's cursor.
_SERVER_TIME = Statement(select(func.clock_timestamp()))
_CASE_QUERY = select(cases.c.facts, cases.c.protocol_id).where(cases.c.id == bindparam("case_id"))
_CASE = Statement(_CASE_QUERY)
_CASE_LOCKED = Statement(_CASE_QUERY.with_for_update())
_CASE_VERSION_QUERY = select(cases.c.version).where(cases.c.id == bindparam("case_id"))
_CASE_VERSION = Statement(_CASE_VERSION_QUERY)
_CASE_VERSION_LOCKED = Statement(_CASE_VERSION_QUERY.with_for_update())
_PROTOCOL = Statement(select(protocols.c.content).where(protocols.c.id == bindparam("pid")))
_SPECIMEN = Statement(select(cases.c.id).where(cases.c.specimen_id == bindparam("specimen_id")))
_ENTRIES = Statement(
    select(entries.c.body, entries.c.hash)
    .where(entries.c.case_id == bindparam("case_id"))
    .order_by(entries.c.seq)
)
_PROTOCOLS_KEY = "bmac_protocols"


class Repository(
    CaseWrites,
    OperatorRows,
    RegistryRows,
    AuditRows,
    RefusalRows,
    AccessRows,
    QualityRows,
    BoardRows,
):
    """Reads and writes the record on one unit of work's connection."""

    def server_time(self) -> datetime:
        """The database server's wall clock (PostgreSQL's clock_timestamp()), UTC."""
        found: datetime = self._run(_SERVER_TIME, {}).fetchone()[0]
        return found.astimezone(UTC)

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

    def protocol_by_sha256(self, sha256: str) -> Protocol | None:
        """The stored protocol of this content, if any."""
        content = self._execute(
            select(protocols.c.content).where(protocols.c.sha256 == sha256)
        ).scalar()
        return None if content is None else stored_protocol(content)

    def protocol_shas(self) -> dict[int, str]:
        """Every stored protocol's id and the SHA-256 of its content as stored."""
        rows = self._execute(select(protocols.c.id, protocols.c.content))
        return {int(r[0]): digest(r[1]) for r in rows}

    def protocol(self, protocol_id: int) -> Protocol:
        """The protocol a case runs under, as stored when the case was opened."""
        conn = self._conn()
        cache: dict[int, Protocol] = conn.info.setdefault(_PROTOCOLS_KEY, {})
        if protocol_id not in cache:
            row = self._run(_PROTOCOL, {"pid": protocol_id}).fetchone()
            if row is None:
                raise LookupError(f"no protocol {protocol_id}")
            cache[protocol_id] = stored_protocol(row[0])
        return cache[protocol_id]

    # -- cases -----------------------------------------------------------------------------
    def get_case(self, case_id: int, lock: bool = False) -> tuple[CaseSnapshot, int] | None:
        """The case and its protocol id; `lock` holds its row until commit (PostgreSQL)."""
        query = _CASE_LOCKED if lock else _CASE
        return case_of_row(self._run(query, {"case_id": case_id}).fetchone())

    def case_version(self, case_id: int, lock: bool = False) -> int | None:
        """The case's entry count, or None when there is no such case; `lock` holds its row
        until commit (PostgreSQL)."""
        statement = _CASE_VERSION_LOCKED if lock else _CASE_VERSION
        row = self._run(statement, {"case_id": case_id}).fetchone()
        return None if row is None else int(row[0])

    def case_with_specimen(self, specimen_id: str) -> int | None:
        """The case that collected `specimen_id`, if any."""
        row = self._run(_SPECIMEN, {"specimen_id": specimen_id}).fetchone()
        return None if row is None else int(row[0])

    def list_cases(
        self, state: str | None, limit: int, offset: int = 0
    ) -> tuple[list[tuple[CaseSnapshot, int]], int]:
        """A page of cases with their protocol ids, newest first, and how many match in all."""
        query = select(cases.c.facts, cases.c.protocol_id).where(cases.c.version > 0)
        # Counted on the (state, id) index alone: a row with no entry never commits.
        count = select(func.count()).select_from(cases)
        if state:
            query = query.where(cases.c.state == state)
            count = count.where(cases.c.state == state)
        rows = self._execute(query.order_by(cases.c.id.desc()).limit(limit).offset(offset))
        found = [(CaseSnapshot.from_facts(read_json(r[0])), int(r[1])) for r in rows]
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

    def visits_due_before(self, horizon: str) -> list[DueRow]:
        """Every worklist row due before `horizon`, earliest first."""
        return [DueRow(*row) for row in self.worklist_before(horizon)]

    # -- the log ---------------------------------------------------------------------------
    def entries(self, case_id: int) -> list[tuple[Entry, str]]:
        """A case's entries with their stored hashes, oldest first."""
        rows = self._run(_ENTRIES, {"case_id": case_id}).fetchall()
        return [(Entry.from_body(body), entry_hash) for body, entry_hash in rows]
