"""Audit use cases: checkpoints over every case's chain head, verifying against one, replay.

A checkpoint is one SHA-256 over the sorted list of [case id, entry count, head hash] of every
case (`audit.heads_digest`). Written on paper or sent by e-mail, it later proves that no entry it
covered was removed or rewritten, even by someone who rewrote the rest of the database to match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select, tuple_

from .. import states
from ..audit import Problem, heads_digest
from ..errors import InvalidData, NotFound
from ..people import Operator
from ..record import CaseSnapshot, Entry, digest, replay
from ..store.models import EntryRow
from ..store.unit_of_work import UnitOfWork
from ..timeutil import from_iso, iso, parse_at
from .queries import status_of

# The case id of a problem that concerns the whole record rather than one case.
RECORD = 0
_CHUNK = 500


@dataclass(frozen=True)
class Checkpoint:
    """A digest over the chain heads, and what it covers."""

    digest: str
    taken_at: str
    cases: int
    entries: int


def grouped(value: str) -> str:
    """The digest in eight groups of eight hex digits, for paper."""
    return " ".join(value[i : i + 8] for i in range(0, len(value), 8))


def parse_digest(text: str) -> str:
    """A digest as typed (any case, spaces or dashes between groups) as 64 lower-case hex."""
    value = re.sub(r"[\s:-]", "", text).lower()
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        raise InvalidData(
            f"--against {text!r} is not a checkpoint digest: give the 64 hex digits that "
            "`bmac audit checkpoint` printed (spaces between groups are fine)"
        )
    return value


def current_heads(uow: UnitOfWork) -> dict[str, tuple[int, str]]:
    """Every case's entry count and head hash, the hash recomputed from the last entry's body.

    One statement, so PostgreSQL reads every head at the same instant; on SQLite the caller's
    transaction gives the same guarantee.
    """
    last = (
        select(EntryRow.case_id, func.max(EntryRow.seq).label("seq"))
        .group_by(EntryRow.case_id)
        .subquery()
    )
    rows = uow.session.execute(
        select(EntryRow.case_id, EntryRow.seq, EntryRow.body).join(
            last, and_(EntryRow.case_id == last.c.case_id, EntryRow.seq == last.c.seq)
        )
    )
    return {str(r.case_id): (int(r.seq), digest(r.body)) for r in rows}


def take_checkpoint(signer: Operator, now: datetime, uow: UnitOfWork) -> Checkpoint:
    """Compute the digest over every case's head, store it, and return it (auditor, admin)."""
    states.check_permitted("audit_checkpoint", signer.role)
    with uow:
        heads = current_heads(uow)
        value = heads_digest(heads)
        counts = {case: count for case, (count, _) in heads.items()}
        uow.repo.add_checkpoint(iso(now), signer.id, counts, value)
        uow.commit()
    return Checkpoint(value, iso(now), len(counts), sum(counts.values()))


def heads_at(
    uow: UnitOfWork, counts: dict[str, int]
) -> tuple[dict[str, tuple[int, str]], list[Problem]]:
    """Each case's head hash at the entry count given, recomputed; a missing head is a problem."""
    wanted = sorted((int(case), int(count)) for case, count in counts.items())
    found: dict[tuple[int, int], str] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        rows = uow.session.execute(
            select(EntryRow.case_id, EntryRow.seq, EntryRow.body).where(
                tuple_(EntryRow.case_id, EntryRow.seq).in_(chunk)
            )
        )
        found.update({(int(r.case_id), int(r.seq)): digest(r.body) for r in rows})
    heads: dict[str, tuple[int, str]] = {}
    problems = []
    for case_id, count in wanted:
        if count < 1:
            continue
        head = found.get((case_id, count))
        if head is None:
            problems.append(
                Problem(case_id, count, "entry covered by the checkpoint is gone (log truncated)")
            )
            continue
        heads[str(case_id)] = (count, head)
    return heads, problems


def verify_against(value: str, uow: UnitOfWork) -> list[Problem]:
    """What differs between the record and the checkpoint `value` (empty: nothing removed)."""
    value = parse_digest(value)
    with uow:
        counts = uow.repo.checkpoint_heads(value)
        if counts is None:
            return [
                Problem(
                    RECORD,
                    None,
                    f"checkpoint {grouped(value)} is not in the database: its row was removed, "
                    "or the digest was mistyped",
                )
            ]
        heads, problems = heads_at(uow, counts)
    if not problems and heads_digest(heads) != value:
        problems.append(
            Problem(
                RECORD,
                None,
                "entries the checkpoint covers were rewritten: their chain heads no longer "
                "give its digest",
            )
        )
    return problems


def replay_steps(
    case_id: int, at: str | None, now: datetime, uow: UnitOfWork
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The case rebuilt from its log one entry at a time (up to `at`), and its final status."""
    with uow:
        found = uow.repo.get_case(case_id)
        if found is None:
            raise NotFound(f"no case {case_id}: see `bmac case list`")
        protocol = uow.repo.protocol(found[1])
        entries = [entry for entry, _ in uow.repo.entries(case_id)]
    cut = now
    if at is not None:
        cut = parse_at(at)
        # `at` never goes backwards within a case, so this is a prefix of the log.
        entries = [entry for entry in entries if from_iso(entry.at) <= cut]
        if not entries:
            raise InvalidData(f"--at {at}: case {case_id} was not opened yet at that time")
    steps = []
    previous: CaseSnapshot | None = None
    for count in range(1, len(entries) + 1):
        snapshot = replay(entries[:count])
        assert snapshot is not None
        steps.append(_step(entries[count - 1], previous, snapshot))
        previous = snapshot
    assert previous is not None
    return steps, status_of(previous, protocol, cut)


_BOOKKEEPING = {"case_id", "version", "updated_at", "last_at", "head_hash", "protocol_sha256"}


_NOTHING = object()


def _step(entry: Entry, before: CaseSnapshot | None, after: CaseSnapshot) -> dict[str, Any]:
    old = before.facts() if before else {}
    changed = {
        key: value
        for key, value in after.facts().items()
        if key not in _BOOKKEEPING
        and old.get(key, _NOTHING) != value
        and (before is not None or value not in (None, False, {}, []))
    }
    return {
        "seq": entry.seq,
        "at": entry.at,
        "action": entry.action,
        "operator": entry.signer.id,
        "from_state": entry.from_state,
        "to_state": entry.to_state,
        "corrects": entry.corrects,
        "reason": entry.reason,
        "state": after.state,
        "changed": changed,
        "case": after.facts(),
    }
