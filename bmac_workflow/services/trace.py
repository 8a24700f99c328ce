"""`bmac trace lot|device`: every case that used a kit lot or a device, where it stands now,
and its patient pseudonymised unless asked to reveal them.

The plain query, which knows nothing of who reads: reads.py signs the reader in, lets only a
surgeon or an auditor reveal patients, and logs every case traced as viewed.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..quality import DEVICE, LOT
from ..timeutil import iso, parse_at

if TYPE_CHECKING:
    from ..store.database import Database
    from ..store.unit_of_work import UnitOfWork

WITHHELD = "withheld"


def trace(
    kind: str,
    ref: str,
    db: Database,
    *,
    since: str | None = None,
    reveal: bool = False,
    key: str | None = None,
) -> list[dict[str, Any]]:
    """The rows of `traced` in a reading unit of work of its own."""
    start = start_of(since)
    with db.read() as uow:
        return rows_of(traced(uow, kind, ref, start), reveal, key)


def start_of(since: str | None) -> str:
    """`--since` as the stored time it compares with ("": from the first entry); bad input is
    refused (5) before anything is read."""
    return iso(parse_at(since)) if since else ""


def traced(uow: UnitOfWork, kind: str, ref: str, start: str) -> list[tuple[Any, ...]]:
    """(case, seq, action, at, case facts) of every step that used the lot or device (from
    `start` on), by case and entry."""
    if kind not in (LOT, DEVICE):
        raise ValueError(kind)
    return uow.repo.trace(kind, ref, start)


def patients(found: list[tuple[Any, ...]]) -> list[tuple[int, str]]:
    """The (case, patient) pairs of the traced steps, once each, by case: who was shown."""
    pairs = {int(row[0]): str(json.loads(row[4])["patient_ref"]) for row in found}
    return sorted(pairs.items())


def rows_of(found: list[tuple[Any, ...]], reveal: bool, key: str | None) -> list[dict[str, Any]]:
    """One row per traced step: the patient (their reference with `reveal`; else its keyed
    pseudonym with `key`, or withheld), knee, step and its time, injection, state, follow-up,
    adverse events."""
    return [_row(row, reveal, key) for row in found]


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
