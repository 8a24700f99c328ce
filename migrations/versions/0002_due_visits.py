"""The follow-up worklist as rows: one per visit not yet recorded, indexed by when it is due.

`followup due` read every case whose earliest visit was due and parsed its snapshot to list its
visits: 154 ms at 100k cases (benchmarks/run.py). With the visits as rows, carrying the patient
and knee, it is one range read of one covering index. The rows are filled from the cases
already in follow-up, and replace the `cases.next_due_at` column they make redundant.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import json
import tomllib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "due_visits",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("visit", sa.String(32), nullable=False),
        sa.Column("due_at", sa.String(32), nullable=False),
        sa.Column("patient_ref", sa.String(64), nullable=False),
        sa.Column("knee", sa.String(8), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_due_visits_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("case_id", "visit", name=op.f("pk_due_visits")),
    )
    op.create_index(
        "ix_due_visits_worklist",
        "due_visits",
        ["due_at", "case_id", "visit", "patient_ref", "knee"],
        unique=False,
    )
    _fill_from_cases()
    op.drop_index(op.f("ix_cases_next_due_at"), table_name="cases")
    # A plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+, which RETURNING needs already): no
    # batch copy of the table, so nothing that references it is touched.
    op.drop_column("cases", "next_due_at")


def _fill_from_cases() -> None:
    # A frozen copy of the rule as it stood at this revision (rules.visits_due and the row it
    # made), so that this migration does the same whatever the rules become later: every
    # scheduled visit not yet recorded, due its protocol's days after the injection, for a
    # case in follow-up whose knee did not go on to arthroplasty.
    bind = op.get_bind()
    schedules = {
        pid: tomllib.loads(content)["follow_up"]["visits"]
        for pid, content in bind.execute(sa.text("SELECT id, content FROM protocols"))
    }
    rows = []
    for facts_text, pid in bind.execute(
        sa.text("SELECT facts, protocol_id FROM cases WHERE state = 'follow_up'")
    ):
        facts = json.loads(facts_text)
        if facts.get("injected_at") is None or facts.get("arthroplasty"):
            continue
        injected = datetime.fromisoformat(facts["injected_at"]).astimezone(UTC)
        recorded = set(facts.get("visits", ()))
        for visit, days in schedules[pid].items():
            if visit in recorded:
                continue
            due = (injected + timedelta(days=days)).replace(tzinfo=None)
            rows.append(
                {
                    "case_id": facts["case_id"],
                    "visit": visit,
                    "due_at": due.isoformat(timespec="microseconds") + "Z",
                    "patient_ref": facts["patient_ref"],
                    "knee": facts["knee"],
                }
            )
    if rows:
        bind.execute(
            sa.text(
                "INSERT INTO due_visits (case_id, visit, due_at, patient_ref, knee) "
                "VALUES (:case_id, :visit, :due_at, :patient_ref, :knee)"
            ),
            rows,
        )


def downgrade() -> None:
    op.add_column("cases", sa.Column("next_due_at", sa.String(32), nullable=True))
    op.execute(
        "UPDATE cases SET next_due_at = "
        "(SELECT min(due_at) FROM due_visits WHERE due_visits.case_id = cases.id)"
    )
    op.create_index(op.f("ix_cases_next_due_at"), "cases", ["next_due_at"], unique=False)
    op.drop_index("ix_due_visits_worklist", table_name="due_visits")
    op.drop_table("due_visits")
