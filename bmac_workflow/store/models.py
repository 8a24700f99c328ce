"""The tables, as typed SQLAlchemy 2 models. Times are stored as UTC ISO 8601 text (`...Z`),
which sorts correctly and reads the same on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Time = String(32)
Hash = String(64)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class ProtocolRow(Base):
    """Every protocol any case ran under, kept whole so a case keeps its own limits."""

    __tablename__ = "protocols"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(Hash, unique=True)
    content: Mapped[str] = mapped_column(Text)
    loaded_at: Mapped[str] = mapped_column(Time)


class OperatorRow(Base):
    """A person who signs entries. The PIN is only ever stored as an argon2id hash."""

    __tablename__ = "operators"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(default=True)
    pin_hash: Mapped[str] = mapped_column(String(200))
    failed_pins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[str | None] = mapped_column(Time)
    created_at: Mapped[str] = mapped_column(Time)


class OperatorEventRow(Base):
    """Append-only history of the operators: added, deactivated, PIN reset, locked, unlocked."""

    __tablename__ = "operator_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    operator_id: Mapped[str] = mapped_column(ForeignKey("operators.id"), index=True)
    at: Mapped[str] = mapped_column(Time)
    action: Mapped[str] = mapped_column(String(32))
    by_operator: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text, default="{}")


class CaseRow(Base):
    """Where a case stands now: a cache of the replay of its log, checked by `audit verify`."""

    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_ref: Mapped[str] = mapped_column(String(64))
    knee: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    head_hash: Mapped[str] = mapped_column(Hash)
    protocol_id: Mapped[int] = mapped_column(ForeignKey("protocols.id"))
    opened_at: Mapped[str] = mapped_column(Time)
    updated_at: Mapped[str] = mapped_column(Time)
    specimen_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    facts: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_cases_state_id", "state", "id"),)


class DueVisitRow(Base):
    """A follow-up visit not yet recorded, with when it falls due: the `followup due` worklist.

    Like the case row, a cache of the replay of the log (rewritten with the case's row, checked
    by `audit verify`). It carries the patient and knee so that the worklist is one range read
    of one covering index, in the order it is listed, touching no case row.
    """

    __tablename__ = "due_visits"
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    visit: Mapped[str] = mapped_column(String(32))
    due_at: Mapped[str] = mapped_column(Time)
    patient_ref: Mapped[str] = mapped_column(String(64))
    knee: Mapped[str] = mapped_column(String(8))

    __table_args__ = (
        PrimaryKeyConstraint("case_id", "visit"),
        Index("ix_due_visits_worklist", "due_at", "case_id", "visit", "patient_ref", "knee"),
    )


class EntryRow(Base):
    """One log entry: its canonical JSON body and the SHA-256 of it. Append-only (triggers)."""

    __tablename__ = "entries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    seq: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    hash: Mapped[str] = mapped_column(Hash)

    __table_args__ = (UniqueConstraint("case_id", "seq"),)


class CheckpointRow(Base):
    """A digest over every case's chain head and entry count, taken by an auditor. Append-only."""

    __tablename__ = "checkpoints"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    taken_at: Mapped[str] = mapped_column(Time)
    operator_id: Mapped[str] = mapped_column(ForeignKey("operators.id"))
    cases: Mapped[int] = mapped_column(Integer)
    entries: Mapped[int] = mapped_column(Integer)
    heads: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(Hash, index=True)
