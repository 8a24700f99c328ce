"""Audit use cases: `audit verify` (the record, and a checkpoint's digest) and `audit replay`.
Checkpoints themselves: services/checkpoints.py."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .. import keys
from ..checks import RECORD, Problem
from ..errors import InvalidData, NotFound
from ..record import CaseSnapshot, Entry, replay
from ..timeutil import from_iso, parse_at
from .checkpoints import parse_digest, verify_against
from .queries import status_of
from .verification import Progress, verify_record

if TYPE_CHECKING:
    from ..store.database import Database

# A progress bar for a job of N items: a context giving a callback (None: no bar is drawn).
ProgressBar = Callable[[int], AbstractContextManager[Progress | None]]


@dataclass(frozen=True)
class Verified:
    """What `audit verify` checked and found."""

    entries: int
    problems: list[Problem]
    before_keys: int = 0  # entries signed before keys: verified by their hash alone
    root_fingerprint: str | None = None  # of the clinic's root key, to compare with paper


def audit_verify(
    db: Database,
    case_id: int | None = None,
    against: str | None = None,
    progress: ProgressBar | None = None,
    full: bool = False,
    root: str | None = None,
) -> Verified:
    """The whole `audit verify`: the record (or one case), then a checkpoint if one is given;
    `full` checks every signature, not only those since the last signed checkpoint; `root` is
    the root key's fingerprint as written down when the first admin was added."""
    if against is not None:
        against = parse_digest(against)
    with db.read() as uow:
        if case_id is not None and uow.repo.case_version(case_id) is None:
            raise NotFound(f"no case {case_id}: see `bmac case list`")
        total = uow.repo.entry_count(case_id)
    with progress(total) if progress else nullcontext() as advance:
        found = verify_record(db, case_id, progress=advance, full=full)
    problems = found.problems
    if case_id is None:
        from .access import access_problems

        with db.read() as uow:
            problems += access_problems(uow)
    if against is not None:
        problems += verify_against(against, db)
    fingerprint = keys.fingerprint(found.root_key) if found.root_key else None
    if root is not None and _plain(root) != _plain(fingerprint or ""):
        problems.append(
            Problem(RECORD, None, f"the registry's root key is {fingerprint}, not {root}: the "
                    "operator registry is not the clinic's")
        )  # fmt: skip
    return Verified(total, problems, found.before_keys, fingerprint)


def _plain(fingerprint: str) -> str:
    return "".join(c for c in fingerprint.lower() if c in "0123456789abcdef")


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
