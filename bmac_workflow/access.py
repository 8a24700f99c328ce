"""The access log, pure: who read which cases, when, through which channel; its entries, their
canonical form and hash chain, the audit's check of that chain, and the filters of
`bmac audit access`.

One chain for the whole clinic: each entry carries its seq and the hash of the entry before
it (SHA-256 over canonical JSON, as the record). The table is append-only in the database
(migrations/append_only.py); the chain makes an entry changed, removed or reordered behind the
triggers' back visible to `audit verify` (exit 8).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from .checks import RECORD, Problem
from .record import GENESIS, canonical, digest

CHANNELS = ("cli", "web", "api")
# What `audit verify` leaves in the log: its result, shown on the web's case page.
VERIFY = "audit verify"


@dataclass(frozen=True)
class Access:
    """One read: who, when (UTC ISO), through which channel, what they read, which cases and
    patients it showed, and (for `audit verify`) its result."""

    seq: int
    at: str
    operator: str
    channel: str
    what: str
    cases: tuple[int, ...] = ()
    patients: tuple[str, ...] = ()
    result: str | None = None
    prev_hash: str = GENESIS

    def plain(self) -> dict[str, Any]:
        """The entry as the JSON of `audit access --json` (and its stored body)."""
        found: dict[str, Any] = {
            "seq": self.seq,
            "at": self.at,
            "operator": self.operator,
            "channel": self.channel,
            "what": self.what,
            "cases": list(self.cases),
            "patients": list(self.patients),
            "prev_hash": self.prev_hash,
        }
        if self.result is not None:
            found["result"] = self.result
        return found

    def body(self) -> str:
        """The canonical text that is stored and hashed."""
        return canonical(self.plain())

    @classmethod
    def from_body(cls, body: str) -> Access:
        """An entry from its stored body (ValueError/KeyError/TypeError when malformed)."""
        raw = json.loads(body)
        return cls(
            seq=int(raw["seq"]),
            at=str(raw["at"]),
            operator=str(raw["operator"]),
            channel=str(raw["channel"]),
            what=str(raw["what"]),
            cases=tuple(int(c) for c in raw["cases"]),
            patients=tuple(str(p) for p in raw["patients"]),
            result=raw.get("result"),
            prev_hash=str(raw["prev_hash"]),
        )


def subjects(rows: Iterable[tuple[int, str]]) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """The cases and the distinct patients of (case id, patient ref) pairs, in order seen."""
    pairs = rows if isinstance(rows, list) else list(rows)
    cases = tuple(map(itemgetter(0), pairs))
    return cases, tuple(dict.fromkeys(map(itemgetter(1), pairs)))


@dataclass(frozen=True)
class StoredAccess:
    """An access row as stored: seq, operator and what (columns for the filters), the body and
    its hash."""

    seq: int
    operator: str
    what: str
    body: str
    hash: str


def check_chain(rows: Sequence[StoredAccess]) -> list[Problem]:
    """Every problem of the access log: a body that does not hash to its stored hash, a seq out
    of order or missing, a broken link, columns that disagree with the body."""
    problems: list[Problem] = []
    previous = GENESIS
    for expected, row in enumerate(rows, start=1):
        where = f"access log entry {row.seq}"
        if digest(row.body) != row.hash:
            problems.append(Problem(RECORD, row.seq, f"{where} was altered (its hash differs)"))
        try:
            entry = Access.from_body(row.body)
        except (ValueError, KeyError, TypeError):
            problems.append(Problem(RECORD, row.seq, f"{where} cannot be read"))
            previous = row.hash
            continue
        if row.seq != expected or entry.seq != row.seq:
            problems.append(
                Problem(RECORD, row.seq, f"{where}: expected seq {expected} (entries removed "
                        "or inserted)")
            )  # fmt: skip
        if entry.prev_hash != previous:
            problems.append(Problem(RECORD, row.seq, f"{where} does not link to the one before"))
        if (entry.operator, entry.what) != (row.operator, row.what):
            problems.append(Problem(RECORD, row.seq, f"{where}: its columns differ from its body"))
        previous = row.hash
    return problems


@dataclass(frozen=True)
class AccessFilter:
    """The filters of `bmac audit access` (all optional, all must hold)."""

    patient: str | None = None
    case_id: int | None = None
    operator: str | None = None
    since: str | None = None  # UTC ISO

    def holds(self, entry: Access) -> bool:
        """True when `entry` passes every filter given."""
        return (
            (self.patient is None or self.patient in entry.patients)
            and (self.case_id is None or self.case_id in entry.cases)
            and (self.operator is None or self.operator == entry.operator)
            and (self.since is None or entry.at >= self.since)
        )


def masked(patient_ref: str) -> str:
    """A patient reference as the board shows it: its first two and last two characters (the
    full reference only on the case page)."""
    if len(patient_ref) <= 4:
        return "•" * len(patient_ref)
    return f"{patient_ref[:2]}{'•' * min(len(patient_ref) - 4, 4)}{patient_ref[-2:]}"
