"""The initial schema: protocols, operators and their history, cases, the log, checkpoints.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from bmac_workflow.migrations.append_only import protect, unprotect

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LOGS = {"entries": ("case_id", "seq"), "operator_events": (), "checkpoints": ()}


def upgrade() -> None:
    op.create_table(
        "protocols",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("loaded_at", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_protocols")),
        sa.UniqueConstraint("sha256", name=op.f("uq_protocols_sha256")),
    )
    op.create_table(
        "operators",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("pin_hash", sa.String(200), nullable=False),
        sa.Column("failed_pins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.String(32), nullable=True),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operators")),
    )
    op.create_table(
        "operator_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("operator_id", sa.String(64), nullable=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("by_operator", sa.String(64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["operator_id"], ["operators.id"], name=op.f("fk_operator_events_operator_id_operators")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_events")),
    )
    op.create_index(
        op.f("ix_operator_events_operator_id"), "operator_events", ["operator_id"], unique=False
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_ref", sa.String(64), nullable=False),
        sa.Column("knee", sa.String(8), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("protocol_id", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.Column("specimen_id", sa.String(64), nullable=True),
        sa.Column("next_due_at", sa.String(32), nullable=True),
        sa.Column("facts", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["protocol_id"], ["protocols.id"], name=op.f("fk_cases_protocol_id_protocols")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("specimen_id", name=op.f("uq_cases_specimen_id")),
    )
    op.create_index("ix_cases_state_id", "cases", ["state", "id"], unique=False)
    op.create_index(op.f("ix_cases_next_due_at"), "cases", ["next_due_at"], unique=False)
    op.create_table(
        "entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_entries_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entries")),
        sa.UniqueConstraint("case_id", "seq", name=op.f("uq_entries_case_id_seq")),
    )
    op.create_table(
        "checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("taken_at", sa.String(32), nullable=False),
        sa.Column("operator_id", sa.String(64), nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("heads", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["operator_id"], ["operators.id"], name=op.f("fk_checkpoints_operator_id_operators")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkpoints")),
    )
    op.create_index(op.f("ix_checkpoints_digest"), "checkpoints", ["digest"], unique=False)
    for table, unique in LOGS.items():
        protect(op, table, unique)


def downgrade() -> None:
    for table in LOGS:
        unprotect(op, table)
    op.drop_index(op.f("ix_checkpoints_digest"), table_name="checkpoints")
    op.drop_table("checkpoints")
    op.drop_table("entries")
    op.drop_index(op.f("ix_cases_next_due_at"), table_name="cases")
    op.drop_index("ix_cases_state_id", table_name="cases")
    op.drop_table("cases")
    op.drop_index(op.f("ix_operator_events_operator_id"), table_name="operator_events")
    op.drop_table("operator_events")
    op.drop_table("operators")
    op.drop_table("protocols")
