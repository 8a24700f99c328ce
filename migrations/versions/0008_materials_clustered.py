"""The materials cache clustered by case on SQLite (a table WITHOUT ROWID).

`case_materials` was a rowid table with two indexes besides: its primary key (case, seq, kind,
ref) and the trace index. Keyed by its primary key instead, the table is itself the per-case
index, so a step that uses a kit lot or a device writes two b-trees instead of three (one page
less in the WAL at every such step), and the audit's read of a range of cases' materials is one
range scan of the table instead of a lookup of every row through the key. PostgreSQL has no
such table: nothing changes there.

Revision ID: 0008_materials_clustered
Revises: 0007_board_index
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008_materials_clustered"
down_revision: str | None = "0007_board_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    _rebuild(with_rowid=False)


def downgrade() -> None:
    _rebuild(with_rowid=True)


def _rebuild(with_rowid: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # Copied into a new table and renamed (store/migrate.py turns foreign keys off around the
    # migration, as SQLite's own procedure for such a change says); the trace index follows.
    with op.batch_alter_table(
        "case_materials", recreate="always", table_kwargs={"sqlite_with_rowid": with_rowid}
    ):
        pass
