"""With the triggers dropped, any tampering with an entry is found by the audit at that entry;
the untouched record verifies clean. (What `bmac audit verify` says of each kind of tampering is
tested end to end in tests/e2e/test_tamper_cli.py, with the helpers here.)"""

from __future__ import annotations

import json

import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from bmac_workflow.migrations.append_only import LOG_TABLES, unprotect
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from bmac_workflow.record import Entry, digest, replay
from bmac_workflow.rules import due_rows
from bmac_workflow.services.verification import verify
from tests.conftest import Clinic, advance_to


def forgeable(clinic: Clinic) -> Clinic:
    """Two cases in follow-up, then the append-only triggers dropped, as a forger would."""
    for patient in ("P-0001", "P-0002"):
        advance_to(clinic, clinic.open(patient=patient), "follow_up")
    with clinic.engine.begin() as conn:
        op = Operations(MigrationContext.configure(conn))
        for table in LOG_TABLES:
            unprotect(op, table)
    return clinic


@pytest.fixture
def record(clinic: Clinic) -> Clinic:
    return forgeable(clinic)


def sql(clinic: Clinic, statement: str, **params: object) -> None:
    with clinic.engine.begin() as conn:
        conn.execute(text(statement), params)


def body_of(clinic: Clinic, case_id: int, seq: int) -> str:
    with clinic.engine.connect() as conn:
        return str(
            conn.execute(
                text("SELECT body FROM entries WHERE case_id = :c AND seq = :s"),
                {"c": case_id, "s": seq},
            ).scalar_one()
        )


def rewrite(clinic: Clinic, case_id: int, seq: int, body: str, rehash: bool) -> None:
    """Replace an entry's body, and its hash too when the forger is careful."""
    new_hash = digest(body) if rehash else None
    sql(
        clinic,
        "UPDATE entries SET body = :b, hash = COALESCE(:h, hash) WHERE case_id = :c AND seq = :s",
        b=body,
        h=new_hash,
        c=case_id,
        s=seq,
    )


def resave_row(clinic: Clinic, case_id: int) -> None:
    """Make the case row and its worklist agree with whatever the log now says (a careful
    forger)."""
    with clinic.engine.connect() as conn:
        bodies = (
            conn.execute(
                text("SELECT body FROM entries WHERE case_id = :c ORDER BY seq"), {"c": case_id}
            )
            .scalars()
            .all()
        )
    snapshot = replay([Entry.from_body(b) for b in bodies])
    assert snapshot is not None
    sql(
        clinic,
        "UPDATE cases SET state = :st, version = :v, head_hash = :h, facts = :f WHERE id = :c",
        st=snapshot.state,
        v=snapshot.version,
        h=snapshot.head_hash,
        f=json.dumps(snapshot.facts(), sort_keys=True),
        c=case_id,
    )
    sql(clinic, "DELETE FROM due_visits WHERE case_id = :c", c=case_id)
    for row in due_rows(snapshot, clinic.protocol):
        sql(
            clinic,
            "INSERT INTO due_visits (case_id, visit, due_at, patient_ref, knee) "
            "VALUES (:case_id, :visit, :due_at, :patient_ref, :knee)",
            **row._asdict(),
        )


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_one_changed_character_of_any_entry_is_found_at_that_entry(
    record: Clinic, data: st.DataObject
) -> None:
    if record.engine.dialect.name != "sqlite":
        pytest.skip("one database is enough for the property")
    case_id = data.draw(st.sampled_from([1, 2]), label="case")
    seq = data.draw(st.integers(1, 8), label="seq")
    original = body_of(record, case_id, seq)
    at = data.draw(st.integers(0, len(original) - 1), label="position")
    char = data.draw(st.characters(codec="utf-8").filter(lambda c: c != original[at]))
    rewrite(record, case_id, seq, original[:at] + char + original[at + 1 :], rehash=False)
    try:
        problems = verify(record.db)
    finally:
        rewrite(record, case_id, seq, original, rehash=False)
    assert (case_id, seq) in {(p.case_id, p.seq) for p in problems}
    assert verify(record.db) == []
