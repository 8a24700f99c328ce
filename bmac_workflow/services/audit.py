"""Audit use cases: checkpoints over every case's chain head, verifying against one, replay.

A checkpoint is one SHA-256 over the sorted list of [case id, entry count, head hash] of every
case (`checks.heads_digest`). Written on paper or sent by e-mail, it later proves that no entry it
covered was removed or rewritten, even by someone who rewrote the rest of the database to match.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..checks import RECORD, Problem, heads_digest
from ..errors import BmacError, InvalidData, NotFound
from ..operators import SignInLimits
from ..record import CaseSnapshot, Entry, replay
from ..roles import check_permitted
from ..timeutil import from_iso, iso, parse_at
from .queries import status_of
from .recording import Clock
from .signing import Credentials, record, record_alone, sign_in
from .verification import Progress, verify

if TYPE_CHECKING:
    from ..store.database import Database
    from ..store.unit_of_work import UnitOfWork

# A progress bar for a job of N items: a context giving a callback (None: no bar is drawn).
ProgressBar = Callable[[int], AbstractContextManager[Progress | None]]


@dataclass(frozen=True)
class Checkpoint:
    """A digest over the chain heads, and what it covers."""

    digest: str
    taken_at: str
    cases: int
    entries: int
    operator: str


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


def take_checkpoint(
    signer: Credentials, limits: SignInLimits, clock: Clock, db: Database
) -> Checkpoint:
    """Compute the digest over every case's head, store it, and return it (auditor)."""
    signed = sign_in(signer, limits, clock(), db)
    now = clock()
    try:
        check_permitted("audit_checkpoint", signed.operator.role)
        with db.write() as uow:
            operator = record(signed, now, uow)
            heads = uow.repo.current_heads()
            value = heads_digest(heads)
            counts = {case: count for case, (count, _) in heads.items()}
            uow.repo.add_checkpoint(iso(now), operator.id, counts, value)
            uow.commit()
    except BmacError:
        record_alone(signed, now, db)
        raise
    return Checkpoint(value, iso(now), len(counts), sum(counts.values()), operator.id)


def heads_at(
    uow: UnitOfWork, counts: dict[str, int]
) -> tuple[dict[str, tuple[int, str]], list[Problem]]:
    """Each case's head hash at the entry count given, recomputed; a missing head is a problem."""
    wanted = sorted((int(case), int(count)) for case, count in counts.items())
    found = uow.repo.head_hashes([(case, count) for case, count in wanted if count >= 1])
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


def verify_against(value: str, db: Database) -> list[Problem]:
    """What differs between the record and the checkpoint `value` (empty: nothing removed)."""
    value = parse_digest(value)
    with db.read() as uow:
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


@dataclass(frozen=True)
class Verified:
    """What `audit verify` checked and found."""

    entries: int
    problems: list[Problem]


def audit_verify(
    db: Database,
    case_id: int | None = None,
    against: str | None = None,
    progress: ProgressBar | None = None,
) -> Verified:
    """The whole `audit verify`: the record (or one case), then a checkpoint if one is given."""
    if against is not None:
        against = parse_digest(against)
    with db.read() as uow:
        if case_id is not None and uow.repo.case_version(case_id) is None:
            raise NotFound(f"no case {case_id}: see `bmac case list`")
        total = uow.repo.entry_count(case_id)
    with progress(total) if progress else nullcontext() as advance:
        problems = verify(db, case_id, progress=advance)
    if against is not None:
        problems += verify_against(against, db)
    return Verified(total, problems)


def replay_steps(
    case_id: int, at: str | None, now: datetime, db: Database
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The case rebuilt from its log one entry at a time (up to `at`), and its final status."""
    with db.read() as uow:
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
