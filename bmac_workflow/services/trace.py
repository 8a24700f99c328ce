"""`bmac trace lot|device`: every case that used a kit lot or a device, where it stands now,
and its patient pseudonymised unless a surgeon or auditor signs in and asks to see them."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..quality import DEVICE, LOT
from ..roles import check_permitted
from ..timeutil import iso, parse_at
from .signing import Credentials, sign_in

if TYPE_CHECKING:
    from datetime import datetime

    from ..store.database import Database

WITHHELD = "withheld"


def trace(
    kind: str,
    ref: str,
    db: Database,
    *,
    since: str | None = None,
    reveal: Credentials | None = None,
    now: datetime | None = None,
    key: str | None = None,
) -> list[dict[str, Any]]:
    """One row per step that used the lot or device, by case and entry: the patient (their
    reference only with `reveal`, a surgeon's or auditor's sign-in; else its keyed pseudonym
    with `key`, or withheld), knee, step and its time, injection, state, follow-up, adverse
    events."""
    if kind not in (LOT, DEVICE):
        raise ValueError(kind)
    if reveal is not None:
        from ..timeutil import utcnow

        signed = sign_in(reveal, now or utcnow(), db)
        check_permitted("reveal_patient", signed.holder.role)
    start = iso(parse_at(since)) if since else ""
    with db.read() as uow:
        rows = uow.repo.trace(kind, ref, start)
    return [_row(row, reveal is not None, key) for row in rows]


def _row(row: tuple[Any, ...], reveal: bool, key: str | None) -> dict[str, Any]:
    from .export import pseudonym

    case_id, seq, action, at, facts = row
    case = json.loads(facts)
    patient = case["patient_ref"]
    if not reveal:
        patient = pseudonym(key, patient) if key else WITHHELD
    return {
        "case_id": case_id,
        "patient": patient,
        "knee": case["knee"],
        "step": action,
        "entry": seq,
        "at": at,
        "injected_at": case.get("injected_at"),
        "state": case["state"],
        "follow_up": {
            "visits": case.get("visits", []),
            "arthroplasty": case.get("arthroplasty", False),
        },
        "adverse_events": case.get("adverse_events", 0),
    }
