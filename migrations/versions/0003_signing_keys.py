"""Operator keys and the signed registry; protocols that cannot change; case ids never reused.

- `operators` gains the public key, the signing key sealed under the PIN, and whether the PIN
  must change at the next sign-in (an operator of an older database keeps their argon2 PIN hash
  until their first sign-in gives them a key).
- `registry`: the signed, hash-chained log of operators, protocols and settings (append-only).
  An older database's operators and protocols enter it as unsigned "migrated" entries, with a
  seal over every case's entries so far (signed before keys): the first signed act after this
  migration (an admin's first sign-in) signs the whole prefix, seal included.
- `protocols` can no longer be updated or deleted (triggers, both dialects).
- `checkpoints` gains the signed body and the auditor's signature.
- `cases` on SQLite is rebuilt with AUTOINCREMENT: a deleted case's id is never given again
  (PostgreSQL's sequences never give one twice).

The registry's entry format and the seal's digest are frozen copies of what registry.py and
checks.py write at this revision.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from bmac_workflow.migrations.append_only import protect, unprotect

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64


def _canonical(value: Any) -> str:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def upgrade() -> None:
    op.add_column("operators", sa.Column("public_key", sa.String(64), nullable=True))
    op.add_column("operators", sa.Column("sealed_key", sa.Text(), nullable=True))
    op.add_column(
        "operators",
        sa.Column("must_change_pin", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("checkpoints", sa.Column("body", sa.Text(), nullable=True))
    op.add_column("checkpoints", sa.Column("signature", sa.String(128), nullable=True))
    op.create_table(
        "registry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry")),
        sa.UniqueConstraint("seq", name=op.f("uq_registry_seq")),
    )
    protect(op, "registry", ("seq",))
    protect(op, "protocols", ("sha256",))
    if op.get_bind().dialect.name == "sqlite":
        # Copy the table with AUTOINCREMENT (store/migrate.py turns foreign keys off around
        # the migration, as SQLite's own procedure for such a change says).
        with op.batch_alter_table(
            "cases", recreate="always", table_kwargs={"sqlite_autoincrement": True}
        ):
            pass
    _fill_registry()


def _fill_registry() -> None:
    """The older database's operators and protocols, and the seal of its cases' entries."""
    bind = op.get_bind()
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
    acts: list[tuple[str, str, dict[str, Any]]] = []
    for op_id, name, role, active in bind.execute(
        sa.text("SELECT id, name, role, active FROM operators ORDER BY created_at, id")
    ):
        acts.append(("migrated", op_id, {"name": name, "role": role, "active": bool(active)}))
    for version, sha256 in bind.execute(
        sa.text("SELECT version, sha256 FROM protocols ORDER BY id")
    ):
        acts.append(("protocol_migrated", sha256, {"version": version, "sha256": sha256}))
    heads = _heads(bind)
    if heads:
        listing = [[case, count, head] for case, (count, head) in sorted(heads.items())]
        seal = {"digest": _digest(_canonical(listing)), "cases": len(heads)}
        seal["entries"] = sum(count for count, _ in heads.values())
        acts.append(("legacy_seal", "entries", seal))
    previous = GENESIS
    for seq, (action, subject, data) in enumerate(acts, start=1):
        body = _canonical(
            {
                "seq": seq,
                "action": action,
                "subject": subject,
                "data": data,
                "recorded_at": now,
                "signer": None,
                "prev_hash": previous,
            }
        )
        previous = _digest(body)
        bind.execute(
            sa.text("INSERT INTO registry (seq, body, hash) VALUES (:seq, :body, :hash)"),
            {"seq": seq, "body": body, "hash": previous},
        )


def _heads(bind: Any) -> dict[int, tuple[int, str]]:
    """Every case's entry count and the stored hash of its last entry."""
    rows = bind.execute(
        sa.text(
            "SELECT e.case_id, e.seq, e.hash FROM entries e JOIN (SELECT case_id, max(seq) AS seq "
            "FROM entries GROUP BY case_id) last ON e.case_id = last.case_id AND e.seq = last.seq"
        )
    )
    return {int(case): (int(seq), str(head)) for case, seq, head in rows}


def downgrade() -> None:
    signed = (
        op.get_bind()
        .execute(
            sa.text("SELECT count(*) FROM registry WHERE body NOT LIKE :unsigned"),
            {"unsigned": '%"signer":null%'},
        )
        .scalar_one()
    )
    if signed:
        # The keys that verify the signatures live in the registry: dropping it would leave
        # signed entries nobody can check. A backup from before the upgrade is the way back.
        raise RuntimeError(
            "the registry holds signed acts: below 0003 their keys would be lost and the signed "
            "entries could not be verified; restore a backup taken before the upgrade instead"
        )
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("cases", recreate="always"):
            pass
    unprotect(op, "protocols")
    unprotect(op, "registry")
    op.drop_table("registry")
    op.drop_column("checkpoints", "signature")
    op.drop_column("checkpoints", "body")
    op.drop_column("operators", "must_change_pin")
    op.drop_column("operators", "sealed_key")
    op.drop_column("operators", "public_key")
