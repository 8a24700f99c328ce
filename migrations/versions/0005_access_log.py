"""Reading sessions and the access log.

- `sessions`: reading sessions (`bmac login`, the web's cookie, `bmac login --token`); the
  database keeps the SHA-256 of each session's secret, never the secret. Current state.
- `access_log`: who read which cases, hash chained over the clinic (append-only, both
  dialects).

Revision ID: 0005_access_log
Revises: 0004_late_and_refusals
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from bmac_workflow.migrations.append_only import protect, unprotect

revision: str = "0005_access_log"
down_revision: str | None = "0004_late_and_refusals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("operator_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("idle_minutes", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("last_seen_at", sa.String(32), nullable=False),
        sa.Column("expires_at", sa.String(32), nullable=True),
        sa.Column("ended_at", sa.String(32), nullable=True),
        sa.ForeignKeyConstraint(
            ["operator_id"], ["operators.id"], name="fk_sessions_operator_id_operators"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_sessions"),
    )
    op.create_index("ix_sessions_operator_id", "sessions", ["operator_id"])
    op.create_table(
        "access_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("operator_id", sa.String(64), nullable=False),
        sa.Column("what", sa.String(32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_access_log"),
        sa.UniqueConstraint("seq", name="uq_access_log_seq"),
    )
    op.create_index("ix_access_log_operator_id", "access_log", ["operator_id"])
    op.create_index("ix_access_log_what_seq", "access_log", ["what", "seq"])
    op.create_index("ix_access_log_at", "access_log", ["at"])
    protect(op, "access_log", ("seq",))


def downgrade() -> None:
    unprotect(op, "access_log")
    op.drop_table("access_log")
    op.drop_table("sessions")
