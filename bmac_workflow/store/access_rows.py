"""The repository's part for reading sessions and the access log."""

from __future__ import annotations

from sqlalchemy import bindparam, insert, literal_column, select, text, update

from ..access import Access, StoredAccess
from ..record import GENESIS, digest
from ..sessions import Session
from ..timeutil import from_iso, iso
from .statements import Rows, Statement
from .tables import access_log, sessions

_SESSION = Statement(
    select(
        sessions.c.id,
        sessions.c.operator_id,
        sessions.c.kind,
        sessions.c.secret_hash,
        sessions.c.idle_minutes,
        sessions.c.last_seen_at,
        sessions.c.expires_at,
        sessions.c.ended_at,
    ).where(sessions.c.id == bindparam("sid"))
)
_TOUCH = Statement(
    update(sessions).where(sessions.c.id == bindparam("sid")).values(last_seen_at=bindparam("now")),
    ["last_seen_at"],
)
# Only the head row: psycopg would fetch the whole log for a `fetchone()` without a LIMIT.
_HEAD = Statement(
    select(access_log.c.seq, access_log.c.hash)
    .order_by(access_log.c.seq.desc())
    .limit(literal_column("1"))
    .offset(literal_column("0"))
)
_APPEND = Statement(
    insert(access_log).values(
        seq=bindparam("seq"),
        at=bindparam("at"),
        operator_id=bindparam("operator_id"),
        what=bindparam("what"),
        body=bindparam("body"),
        hash=bindparam("hash"),
    )
)
# One arbitrary number: the PostgreSQL advisory lock that serialises appends to the chain
# (SQLite's BEGIN IMMEDIATE already does).
_APPEND_LOCK = 0x626D6163


class AccessRows(Rows):
    """Sessions and the access log on the unit of work's connection."""

    # -- sessions --------------------------------------------------------------------------
    def _read_write(self) -> None:
        """On PostgreSQL, ask for READ WRITE first: the auditor's role reads by default only,
        yet its reads are logged (it may INSERT into the access log, nothing else of the
        record)."""
        conn = self._connection
        if conn.dialect.name == "postgresql" and not conn.in_transaction():
            conn.begin()
            conn.exec_driver_sql("SET TRANSACTION READ WRITE")

    def add_session(self, found: Session, created_at: str) -> None:
        """Store a new session (its secret's hash only)."""
        self._read_write()
        self._execute(
            insert(sessions).values(
                id=found.session_id,
                operator_id=found.operator_id,
                kind=found.kind,
                secret_hash=found.secret_hash,
                idle_minutes=found.idle_minutes,
                created_at=created_at,
                last_seen_at=iso(found.last_seen),
                expires_at=None if found.expires is None else iso(found.expires),
            )
        )

    def session(self, session_id: str) -> Session | None:
        """A stored session, or None."""
        row = self._run(_SESSION, {"sid": session_id}).fetchone()
        if row is None:
            return None
        return Session(
            session_id=str(row[0]),
            operator_id=str(row[1]),
            kind=str(row[2]),
            secret_hash=str(row[3]),
            idle_minutes=int(row[4]),
            last_seen=from_iso(row[5]),
            expires=None if row[6] is None else from_iso(row[6]),
            ended=row[7] is not None,
        )

    def touch_session(self, session_id: str, now: str) -> None:
        """The session was used at `now`: its idle time starts again."""
        self._read_write()
        self._run(_TOUCH, {"sid": session_id, "now": now})

    def end_session(self, session_id: str, now: str) -> None:
        """End a session (logout)."""
        self._read_write()
        self._execute(
            update(sessions)
            .where(sessions.c.id == session_id, sessions.c.ended_at.is_(None))
            .values(ended_at=now)
        )

    # -- the access log --------------------------------------------------------------------
    def append_access(self, entry: Access) -> Access:
        """Append `entry` after the chain's head as it is now (its seq and link set here)."""
        self._read_write()
        conn = self._conn()
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _APPEND_LOCK})
        head = self._run(_HEAD, {}).fetchone()
        seq, previous = (int(head[0]), str(head[1])) if head else (0, GENESIS)
        entry = Access(**{**entry.__dict__, "seq": seq + 1, "prev_hash": previous})
        body = entry.body()
        self._run(
            _APPEND,
            {
                "seq": entry.seq,
                "at": entry.at,
                "operator_id": entry.operator,
                "what": entry.what,
                "body": body,
                "hash": digest(body),
            },
        )
        return entry

    def access_head(self) -> tuple[int, str]:
        """The access log's length and the hash of its last entry (what a checkpoint covers)."""
        head = self._run(_HEAD, {}).fetchone()
        return (int(head[0]), str(head[1])) if head else (0, GENESIS)

    def access_hash(self, seq: int) -> str | None:
        """The stored hash of access entry `seq`, if there is one."""
        found = self._execute(select(access_log.c.hash).where(access_log.c.seq == seq)).scalar()
        return None if found is None else str(found)

    def access_rows(
        self, operator: str | None = None, since: str | None = None
    ) -> list[StoredAccess]:
        """The access log as stored, oldest first (only `operator`'s, only from `since`)."""
        query = select(
            access_log.c.seq,
            access_log.c.operator_id,
            access_log.c.what,
            access_log.c.body,
            access_log.c.hash,
        ).order_by(access_log.c.seq)
        if operator is not None:
            query = query.where(access_log.c.operator_id == operator)
        if since is not None:
            query = query.where(access_log.c.at >= since)
        return [StoredAccess(int(r[0]), r[1], r[2], r[3], r[4]) for r in self._execute(query)]

    def last_access(self, what: str) -> Access | None:
        """The latest entry of one kind (e.g. the last `audit verify`), or None."""
        query = (
            select(access_log.c.body)
            .where(access_log.c.what == what)
            .order_by(access_log.c.seq.desc())
            .limit(1)
        )
        body = self._execute(query).scalar()
        return None if body is None else Access.from_body(body)

    def patients_of(self, case_ids: list[int] | None) -> list[tuple[int, str]]:
        """(case id, patient ref) of the given cases (None: every case), in id order."""
        from .tables import cases

        query = select(cases.c.id, cases.c.patient_ref).where(cases.c.version > 0)
        if case_ids is not None:
            if not case_ids:
                return []
            query = query.where(cases.c.id.in_(case_ids))
        return [(int(r[0]), str(r[1])) for r in self._execute(query.order_by(cases.c.id))]

    def standing(self, operator_id: str) -> tuple[bool, str | None] | None:
        """Whether an operator is active and until when they are locked (None: no such
        operator); only these columns, which the auditor's role may read too."""
        from .tables import operators

        query = select(operators.c.active, operators.c.locked_until).where(
            operators.c.id == operator_id
        )
        row = self._execute(query).fetchone()
        return None if row is None else (bool(row[0]), row[1])

    def role_of(self, operator_id: str) -> str | None:
        """An operator's role (None: no such operator); a column the auditor's role may read."""
        from .tables import operators

        query = select(operators.c.role).where(operators.c.id == operator_id)
        found = self._execute(query).scalar()
        return None if found is None else str(found)
