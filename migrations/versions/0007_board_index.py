"""The board's index: cases by state and id, with their version.

`ix_cases_state_id` (state, id) becomes `ix_cases_state_id_version` (state, id, version): the
web board reads the cases in flight with their versions from the index alone (an index-only
read, no table row) and re-reads only the cases whose version moved since its last view.
`case list --state` still reads its count from the index's first columns.

Revision ID: 0007_board_index
Revises: 0006_quality
Create Date: 2026-11-29
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007_board_index"
down_revision: str | None = "0006_quality"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_cases_state_id_version", "cases", ["state", "id", "version"])
    op.drop_index("ix_cases_state_id", table_name="cases")


def downgrade() -> None:
    op.create_index("ix_cases_state_id", "cases", ["state", "id"])
    op.drop_index("ix_cases_state_id_version", table_name="cases")
