"""The tables, as SQLAlchemy Core `Table`s on one MetaData (alembic compares the migrations with
it: `alembic check`). Times are stored as UTC ISO 8601 text (`...Z`), which sorts correctly and
reads the same on SQLite and PostgreSQL.

Core, not ORM models: every statement is compiled once from these tables and run through the
repository (statements.py), so no command pays for the ORM's import and session; a command
that reads one case starts with SQLAlchemy Core alone (benchmarks/run.py, start_case_status).
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)


def _time(name: str, nullable: bool = False) -> Column[str]:
    return Column(name, String(32), nullable=nullable)


def _hash(name: str) -> Column[str]:
    return Column(name, String(64), nullable=False)


# Every protocol any case ran under, kept whole so a case keeps its own limits.
protocols = Table(
    "protocols",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", String(64), nullable=False),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("content", Text, nullable=False),
    _time("loaded_at"),
)

# A person who signs entries: a cache of the operator registry (name, role, active, public
# key), their signing key sealed under their PIN, and the count of wrong PINs. `pin_hash` is an
# argon2id hash of the PIN of an operator from before keys ("" once they have a key).
operators = Table(
    "operators",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("pin_hash", String(200), nullable=False),
    Column("failed_pins", Integer, nullable=False, default=0),
    _time("locked_until", nullable=True),
    _time("created_at"),
    Column("public_key", String(64), nullable=True),
    Column("sealed_key", Text, nullable=True),
    Column("must_change_pin", Boolean, nullable=False, default=False),
)

# The operator registry: every act on operators, protocols and settings, signed and hash
# chained (registry.py). Append-only (triggers).
registry = Table(
    "registry",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("seq", Integer, nullable=False, unique=True),
    Column("body", Text, nullable=False),
    _hash("hash"),
)

# Append-only history of the operators: added, deactivated, PIN reset, locked, unlocked.
operator_events = Table(
    "operator_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("operator_id", ForeignKey("operators.id"), nullable=False, index=True),
    _time("at"),
    Column("action", String(32), nullable=False),
    Column("by_operator", String(64), nullable=True),
    Column("detail", Text, nullable=False, default="{}"),
)

# Where a case stands now: a cache of the replay of its log, checked by `audit verify`.
cases = Table(
    "cases",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("patient_ref", String(64), nullable=False),
    Column("knee", String(8), nullable=False),
    Column("state", String(32), nullable=False),
    Column("version", Integer, nullable=False),
    _hash("head_hash"),
    Column("protocol_id", ForeignKey("protocols.id"), nullable=False),
    _time("opened_at"),
    _time("updated_at"),
    Column("specimen_id", String(64), nullable=True, unique=True),
    Column("facts", Text, nullable=False),
    Index("ix_cases_state_id_version", "state", "id", "version"),
    # A case's id is never given again, even to a case opened after one was deleted.
    sqlite_autoincrement=True,
)

# A follow-up visit not yet recorded, with when it falls due: the `followup due` worklist. Like
# the case row, a cache of the replay of the log (rewritten with the case's row, checked by
# `audit verify`). It carries the patient and knee so that the worklist is one range read of
# one covering index, in the order it is listed, touching no case row.
due_visits = Table(
    "due_visits",
    metadata,
    Column("case_id", ForeignKey("cases.id"), nullable=False),
    Column("visit", String(32), nullable=False),
    _time("due_at"),
    Column("patient_ref", String(64), nullable=False),
    Column("knee", String(8), nullable=False),
    PrimaryKeyConstraint("case_id", "visit"),
    Index("ix_due_visits_worklist", "due_at", "case_id", "visit", "patient_ref", "knee"),
)

# One log entry: its canonical JSON body and the SHA-256 of it. Append-only (triggers).
entries = Table(
    "entries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", ForeignKey("cases.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("body", Text, nullable=False),
    _hash("hash"),
    UniqueConstraint("case_id", "seq"),
)

# A step the workflow refused on a guard (refusal.py): its canonical JSON body and the SHA-256
# of it, chained per case. It never moves the case. Append-only (triggers).
refusals = Table(
    "refusals",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", ForeignKey("cases.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("body", Text, nullable=False),
    _hash("hash"),
    UniqueConstraint("case_id", "seq"),
)

# A digest over every case's chain head and entry count, taken by an auditor. Append-only.
checkpoints = Table(
    "checkpoints",
    metadata,
    Column("id", Integer, primary_key=True),
    _time("taken_at"),
    Column("operator_id", ForeignKey("operators.id"), nullable=False),
    Column("cases", Integer, nullable=False),
    Column("entries", Integer, nullable=False),
    Column("heads", Text, nullable=False),
    Column("digest", String(64), nullable=False, index=True),
    # What a signed checkpoint covers (canonical JSON; its SHA-256 is the digest) and the
    # auditor's signature of it; NULL for a checkpoint taken before keys.
    Column("body", Text, nullable=True),
    Column("signature", String(128), nullable=True),
)

# A reading session (sessions.py): whose, what kind (cli, web, token), the SHA-256 of its secret
# (never the secret), its idle minutes, when it was last used, when it ends at the latest (a
# token) and when it was ended (logout). Current state, not a log.
sessions = Table(
    "sessions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("operator_id", ForeignKey("operators.id"), nullable=False, index=True),
    Column("kind", String(8), nullable=False),
    _hash("secret_hash"),
    Column("idle_minutes", Integer, nullable=False),
    _time("created_at"),
    _time("last_seen_at"),
    _time("expires_at", nullable=True),
    _time("ended_at", nullable=True),
)

# Who read which cases (access.py): one hash chain over the clinic; the operator and what was
# read are columns too, for `audit access --operator` and the last `audit verify`. Append-only.
access_log = Table(
    "access_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("seq", Integer, nullable=False, unique=True),
    _time("at"),
    Column("operator_id", String(64), nullable=False, index=True),
    Column("what", String(32), nullable=False),
    Column("body", Text, nullable=False),
    _hash("hash"),
    Index("ix_access_log_what_seq", "what", "seq"),
    Index("ix_access_log_at", "at"),
)

# The quality log: lot holds and releases, devices added, calibrated and checked, each act
# signed and hash chained (quality.py). Append-only (triggers). `kind` and `subject` repeat the
# body's, so that a step reads the acts about its lots and devices by index (the audit checks
# they agree with the body).
quality = Table(
    "quality",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("seq", Integer, nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("subject", String(500), nullable=False),
    Column("body", Text, nullable=False),
    _hash("hash"),
    Index("ix_quality_kind_subject", "kind", "subject", "seq"),
)

# Which kit lots and devices each step of a case used (its data, as corrected): what `bmac
# trace` reads, by one covering index. A cache of the log, written with each entry and checked
# by `audit verify`. On SQLite the table is keyed by its primary key (WITHOUT ROWID): it is
# itself the per-case index, one b-tree fewer to write at every step that uses a lot or device.
case_materials = Table(
    "case_materials",
    metadata,
    Column("case_id", ForeignKey("cases.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("ref", String(500), nullable=False),
    Column("action", String(32), nullable=False),
    _time("at"),
    PrimaryKeyConstraint("case_id", "seq", "kind", "ref"),
    Index("ix_case_materials_trace", "kind", "ref", "case_id", "seq", "action", "at"),
    sqlite_with_rowid=False,
)

# Each deviation (an override's entry opens it, a closing entry of the case closes it), with
# its number: a cache of the log for `bmac deviation list`, checked by `audit verify`.
deviations = Table(
    "deviations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", ForeignKey("cases.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("kind", String(32), nullable=False),
    _time("opened_at"),
    Column("opened_by", String(64), nullable=False),
    Column("closed_seq", Integer, nullable=True),
    UniqueConstraint("case_id", "seq"),
    Index("ix_deviations_closed_seq_id", "closed_seq", "id"),
    sqlite_autoincrement=True,
)
