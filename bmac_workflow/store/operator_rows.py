"""The repository's part for operators, their append-only history and the audit checkpoints."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from sqlalchemy import bindparam, func, insert, null, select, update

from ..checkpoint import StoredCheckpoint
from ..operators import Operator
from .statements import Rows, Statement
from .tables import checkpoints, operator_events, operators

_OPERATOR_COLUMNS = (
    operators.c.id,
    operators.c.name,
    operators.c.role,
    operators.c.active,
    operators.c.pin_hash,
    operators.c.failed_pins,
    operators.c.locked_until,
    operators.c.public_key,
    operators.c.sealed_key,
    operators.c.must_change_pin,
)


_OPERATOR_QUERY = select(*_OPERATOR_COLUMNS).where(operators.c.id == bindparam("operator_id"))
# Every signed command reads its operator again in its write unit of work: precompiled.
_OPERATOR = Statement(_OPERATOR_QUERY)
_OPERATOR_LOCKED = Statement(_OPERATOR_QUERY.with_for_update())


def _operator(row: Any) -> Operator:
    return Operator(
        id=row[0],
        name=row[1],
        role=row[2],
        active=bool(row[3]),
        pin_hash=row[4],
        failed_pins=int(row[5]),
        locked_until=row[6],
        public_key=row[7],
        sealed_key=row[8],
        must_change_pin=bool(row[9]),
    )


class OperatorRows(Rows):
    """Operators and checkpoints on the unit of work's connection."""

    def operator(self, operator_id: str, lock: bool = False) -> Operator | None:
        """The operator with this id, if any; `lock` holds its row until commit (PostgreSQL)."""
        statement = _OPERATOR_LOCKED if lock else _OPERATOR
        row = self._run(statement, {"operator_id": operator_id}).fetchone()
        return None if row is None else _operator(row)

    def operator_id_like(self, operator_id: str) -> str | None:
        """The id of an operator whose id is `operator_id` but for case (ids are compared
        case-insensitively: NURSE.KIM and nurse.kim are one id), if any."""
        query = select(operators.c.id).where(func.lower(operators.c.id) == operator_id.lower())
        found = self._execute(query.limit(1)).scalar()
        return None if found is None else str(found)

    def operators(self) -> list[Operator]:
        """Every operator, by id, without their secrets (sealed key, old PIN hash): what a
        listing and the audit read, and all the auditor's database role may read."""
        secret = (operators.c.pin_hash, operators.c.sealed_key)
        columns = [
            null().label(c.name) if any(c is s for s in secret) else c for c in _OPERATOR_COLUMNS
        ]
        rows = self._execute(select(*columns).order_by(operators.c.id))
        return [replace(_operator(row), pin_hash="") for row in rows]

    def operator_count(self) -> int:
        """How many operators exist (the first must be an admin)."""
        return int(self._execute(select(func.count()).select_from(operators)).scalar_one())

    def add_operator(self, operator: Operator, now: str) -> None:
        """Store a new operator."""
        self._execute(
            insert(operators).values(
                id=operator.id,
                name=operator.name,
                role=operator.role,
                active=operator.active,
                pin_hash=operator.pin_hash,
                failed_pins=0,
                locked_until=None,
                created_at=now,
                public_key=operator.public_key,
                sealed_key=operator.sealed_key,
                must_change_pin=operator.must_change_pin,
            )
        )

    def update_operator(self, operator_id: str, **values: Any) -> None:
        """Change an operator's cached registry fields, sealed key or lock counters."""
        self._execute(update(operators).where(operators.c.id == operator_id).values(**values))

    def operator_event(
        self, operator_id: str, action: str, at: str, by: str | None, detail: dict[str, Any]
    ) -> None:
        """Append to the operators' history (never a PIN)."""
        self._execute(
            insert(operator_events).values(
                operator_id=operator_id,
                action=action,
                at=at,
                by_operator=by,
                detail=json.dumps(detail, sort_keys=True),
            )
        )

    def add_checkpoint(
        self,
        taken_at: str,
        operator_id: str,
        heads: dict[str, int],
        value: str,
        body: str | None = None,
        signature: str | None = None,
    ) -> None:
        """Store a checkpoint: its digest, each case's entry count it covers, and (signed)
        its body and the auditor's signature."""
        self._execute(
            insert(checkpoints).values(
                taken_at=taken_at,
                operator_id=operator_id,
                cases=len(heads),
                entries=sum(heads.values()),
                heads=json.dumps(heads, sort_keys=True),
                digest=value,
                body=body,
                signature=signature,
            )
        )

    def checkpoint_rows(self) -> list[StoredCheckpoint]:
        """Every stored checkpoint, oldest first."""
        query = select(
            checkpoints.c.taken_at,
            checkpoints.c.operator_id,
            checkpoints.c.digest,
            checkpoints.c.heads,
            checkpoints.c.body,
            checkpoints.c.signature,
        ).order_by(checkpoints.c.id)
        return [StoredCheckpoint(*r) for r in self._execute(query)]

    def checkpoint_heads(self, value: str) -> dict[str, int] | None:
        """The entry count per case that a stored checkpoint covers, if that digest was taken."""
        heads = self._execute(
            select(checkpoints.c.heads).where(checkpoints.c.digest == value)
        ).scalar()
        return None if heads is None else dict(json.loads(heads))

    def checkpoints(self) -> list[dict[str, Any]]:
        """Every stored checkpoint, oldest first, as an export shows it."""
        return [
            {
                "taken_at": c.taken_at,
                "operator": c.operator_id,
                "digest": c.digest,
                "heads": json.loads(c.heads),
                "body": c.body,
                "signature": c.signature,
            }
            for c in self.checkpoint_rows()
        ]
