"""The refusals log: a step refused on a guard, signed and chained per case (append-only).

Late entries need no column: how late an entry was recorded and why are fields of its signed
body (written only when it is late), and the case row's facts list the late entries; an older
row lacks that list and reads as having none, which a replay of its log confirms.

Revision ID: 0004_late_and_refusals
Revises: 0003
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from bmac_workflow.migrations.append_only import protect, unprotect

revision: str = "0004_late_and_refusals"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "refusals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_refusals_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refusals")),
        sa.UniqueConstraint("case_id", "seq", name=op.f("uq_refusals_case_id_seq")),
    )
    protect(op, "refusals", ("case_id", "seq"))


def downgrade() -> None:
    # The refusals are part of the record: below 0004 they would be lost.
    if op.get_bind().execute(sa.text("SELECT count(*) FROM refusals")).scalar():
        raise RuntimeError(
            "the refusals log holds refused attempts: below 0004 they would be lost; restore a "
            "backup taken before the upgrade instead"
        )
    unprotect(op, "refusals")
    op.drop_table("refusals")
