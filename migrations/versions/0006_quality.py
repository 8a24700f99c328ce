"""Quality records: the quality log (lot holds, devices), which lots and devices each case
used, and deviations.

- `quality`: the signed, hash-chained log of lot holds and releases and of devices added,
  calibrated and checked (append-only).
- `case_materials`: each step's kit lots and devices (`bmac trace`), filled here from every
  case's log as corrected.
- `deviations`: each deviation's number and whether it is closed. Entries signed before this
  revision open none (docs/record-format.md), so it starts empty.
- Every case row's cached snapshot gains its count of adverse events (as corrected).

The fields that name a lot or a device, and the fold of corrections, are frozen copies of what
step_data.py and record.py say at this revision.

Revision ID: 0006_quality
Revises: 0005_access_log
Create Date: 2026-12-01
"""

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from bmac_workflow.migrations.append_only import protect, unprotect

revision: str = "0006_quality"
down_revision: str | None = "0005_access_log"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The data fields naming a kit lot or a device at this revision.
MATERIALS = {"kit_lot": "lot", "filter_lot": "lot", "device_id": "device"}


def upgrade() -> None:
    op.create_table(
        "quality",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(500), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality")),
        sa.UniqueConstraint("seq", name=op.f("uq_quality_seq")),
    )
    op.create_index("ix_quality_kind_subject", "quality", ["kind", "subject", "seq"])
    protect(op, "quality", ("seq",))
    op.create_table(
        "case_materials",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ref", sa.String(500), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_materials_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("case_id", "seq", "kind", "ref", name=op.f("pk_case_materials")),
    )
    op.create_index(
        "ix_case_materials_trace",
        "case_materials",
        ["kind", "ref", "case_id", "seq", "action", "at"],
    )
    op.create_table(
        "deviations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("opened_at", sa.String(32), nullable=False),
        sa.Column("opened_by", sa.String(64), nullable=False),
        sa.Column("closed_seq", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_deviations_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deviations")),
        sa.UniqueConstraint("case_id", "seq", name=op.f("uq_deviations_case_id_seq")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_deviations_closed_seq_id", "deviations", ["closed_seq", "id"])
    _fill()


def _fill() -> None:
    """Each case's materials and adverse events, from its log with corrections applied."""
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT case_id, seq, body FROM entries ORDER BY case_id, seq"))
    by_case: dict[int, list[dict[str, Any]]] = {}
    for case_id, _, body in rows:
        by_case.setdefault(int(case_id), []).append(json.loads(body))
    for case_id, entries in by_case.items():
        data: dict[int, dict[str, Any]] = {}
        for entry in entries:
            if entry["action"] == "correct" and entry.get("corrects") in data:
                data[entry["corrects"]] = {**data[entry["corrects"]], **entry["data"]["changes"]}
            data[entry["seq"]] = dict(entry["data"])
        adverse = 0
        for entry in entries:
            effective = data[entry["seq"]]
            if entry["action"] == "correct":
                continue
            for field, kind in MATERIALS.items():
                if effective.get(field):
                    bind.execute(
                        sa.text(
                            "INSERT INTO case_materials (case_id, seq, kind, ref, action, at) "
                            "VALUES (:c, :s, :k, :r, :a, :at)"
                        ),
                        {"c": case_id, "s": entry["seq"], "k": kind, "r": str(effective[field]),
                         "a": entry["action"], "at": entry["at"]},
                    )  # fmt: skip
            if entry["action"] == "record_follow_up":
                adverse += len(effective.get("adverse_events") or ())
        if adverse:
            facts = bind.execute(
                sa.text("SELECT facts FROM cases WHERE id = :c"), {"c": case_id}
            ).scalar_one()
            snapshot = json.loads(facts)
            snapshot["adverse_events"] = adverse
            bind.execute(
                sa.text("UPDATE cases SET facts = :f WHERE id = :c"),
                {"f": json.dumps(snapshot), "c": case_id},
            )


def downgrade() -> None:
    count = op.get_bind().execute(sa.text("SELECT count(*) FROM quality")).scalar_one()
    if count:
        raise RuntimeError(
            "the quality log holds signed acts that case entries rely on: restore a backup "
            "taken before the upgrade instead"
        )
    op.drop_index("ix_deviations_closed_seq_id", table_name="deviations")
    op.drop_table("deviations")
    op.drop_index("ix_case_materials_trace", table_name="case_materials")
    op.drop_table("case_materials")
    unprotect(op, "quality")
    op.drop_index("ix_quality_kind_subject", table_name="quality")
    op.drop_table("quality")
