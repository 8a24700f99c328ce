"""The repository's part that writes a case: its row, its log entries and its worklist rows.

A case's row is written only at the version its writer read (an optimistic lock checked by the
UPDATE itself), and an entry's (case, seq) is unique: a second workstation that logged first
makes the write a Conflict (exit 7), with nothing written.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, delete, exists, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..errors import Conflict, InvalidData
from ..json_text import write_json
from ..record import CaseSnapshot, Entry, digest
from ..rules import DueRow
from .statements import Rows, Statement
from .tables import cases, due_visits, entries


def facts_text(snapshot: CaseSnapshot) -> str:
    """The case row's `facts` column: the snapshot as JSON text. Not sorted: the volumes keep
    the order the case recorded them in, which is the order of the chain."""
    return write_json(snapshot.facts())


_APPEND = Statement(insert(entries).inline(), ["case_id", "seq", "body", "hash"])
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


def _append_and_save_statement(fields: list[str]) -> Statement:
    """PostgreSQL: the entry's INSERT and the case's UPDATE as one statement (one round trip
    to the server instead of two); the UPDATE still only at the version read."""
    appended = (
        insert(entries)
        .values(
            case_id=bindparam("case_id"),
            seq=bindparam("seq"),
            body=bindparam("body"),
            hash=bindparam("hash"),
        )
        .returning(entries.c.id)
        .cte("appended")
    )
    return Statement(
        update(cases)
        .where(
            cases.c.id == bindparam("b_case_id"),
            cases.c.version == bindparam("b_expected"),
            exists(select(appended.c.id)),
        )
        .values({name: bindparam(name) for name in fields})
    )


_APPEND_AND_SAVE = _append_and_save_statement(_SAVE_FIELDS)
_APPEND_AND_SAVE_SPECIMEN = _append_and_save_statement([*_SAVE_FIELDS, "specimen_id"])
_CLEAR_DUE = Statement(delete(due_visits).where(due_visits.c.case_id == bindparam("case_id")))
_ADD_DUE = Statement(insert(due_visits), list(DueRow._fields))


class CaseWrites(Rows):
    """Writes of a case's row, log and worklist on the unit of work's connection."""

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

    def save_case(self, snapshot: CaseSnapshot, before: CaseSnapshot | None) -> None:
        """Write the case's new state, only if nobody changed it since `before` (None: the
        case's first entry)."""
        statement = _SAVE_CASE_AND_SPECIMEN if _specimen_changed(snapshot, before) else _SAVE_CASE
        self._write_case(statement, _case_params(snapshot, before))

    def append_and_save(
        self, entry: Entry, body: str, entry_hash: str, after: CaseSnapshot, before: CaseSnapshot
    ) -> None:
        """Append `entry` (its canonical `body` and hash) and write the case it leads to, only
        if nobody changed the case since `before`: on PostgreSQL in one statement."""
        if self._conn().dialect.name != "postgresql":
            self._append(entry, body, entry_hash)
            self.save_case(after, before)
            return
        specimen = _specimen_changed(after, before)
        statement = _APPEND_AND_SAVE_SPECIMEN if specimen else _APPEND_AND_SAVE
        params = _case_params(after, before)
        params.update(case_id=entry.case_id, seq=entry.seq, body=body, hash=entry_hash)
        self._write_case(statement, params)

    def _write_case(self, statement: Statement, params: dict[str, Any]) -> None:
        try:
            result = self._run(statement, params)
        except IntegrityError as exc:
            if _constraint(exc) == "uq_entries_case_id_seq":
                raise _logged_first(params["b_case_id"], params["version"]) from None
            raise InvalidData(
                f"specimen ID {params['specimen_id']} is already used by another case: "
                "scan the label again; every specimen ID is unique"
            ) from None
        if result.rowcount != 1:
            raise Conflict(
                f"case {params['b_case_id']} changed under you: check `bmac case status "
                f"{params['b_case_id']}`"
            )

    def set_due_visits(self, case_id: int, rows: list[DueRow]) -> None:
        """Replace the case's rows of the `followup due` worklist with `rows`."""
        self._run(_CLEAR_DUE, {"case_id": case_id})
        for row in rows:
            self._run(_ADD_DUE, row._asdict())

    def append(self, entry: Entry) -> str:
        """Append an entry and return its hash; a taken (case, seq) means someone logged first."""
        body = entry.body()
        entry_hash = digest(body)
        self._append(entry, body, entry_hash)
        return entry_hash

    def _append(self, entry: Entry, body: str, entry_hash: str) -> None:
        params = {"case_id": entry.case_id, "seq": entry.seq, "body": body, "hash": entry_hash}
        try:
            self._run(_APPEND, params)
        except IntegrityError:
            raise _logged_first(entry.case_id, entry.seq) from None


def _specimen_changed(snapshot: CaseSnapshot, before: CaseSnapshot | None) -> bool:
    return before is None or before.specimen_id != snapshot.specimen_id


def _case_params(snapshot: CaseSnapshot, before: CaseSnapshot | None) -> dict[str, Any]:
    return {
        "b_case_id": snapshot.case_id,
        "b_expected": before.version if before else 0,
        "state": snapshot.state,
        "version": snapshot.version,
        "head_hash": snapshot.head_hash,
        "updated_at": snapshot.updated_at,
        "specimen_id": snapshot.specimen_id,
        "facts": facts_text(snapshot),
    }


def _constraint(exc: IntegrityError) -> str | None:
    """The name of the constraint an INSERT or UPDATE broke (PostgreSQL says; SQLite: None)."""
    diag = getattr(exc.orig, "diag", None)
    return getattr(diag, "constraint_name", None)


def _logged_first(case_id: int, seq: int) -> Conflict:
    return Conflict(
        f"case {case_id} changed under you: entry {seq} was logged by someone else first; "
        f"check `bmac case status {case_id}`"
    )
