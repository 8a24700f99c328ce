"""`audit verify`: the registry, then every case re-run from its log alone (its chain, who signed
each entry with which key and role, every guard and rule, its signatures), then the case rows,
the worklist, the operators' cache, the protocols and the checkpoints against what the log and
the registry say, and the whole refusals log (refusal.py). Several worker processes check a large
record. Entries an auditor's signed checkpoint reviewed (whose head hash it holds still matches)
are folded, not re-run, unless `full`: the audit the checkpoint records checked them. The checks
are pure (checks.py, rerun.py, registry_checks.py, checkpoint.py); this module reads the record
through the repository and runs the worker pool (services/verification_pool.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import checkpoint
from ..cache_checks import check_caches
from ..checks import (
    RECORD,
    Problem,
    check_case_row,
    covered_entries,
    heads_digest,
    read_chain,
    shared_specimens,
    signed_prefix,
    specimen_given,
    within,
)
from ..quality import Quality
from ..quality_checks import check_quality
from ..record import digest
from ..registry import Registry
from ..registry_checks import check_registry
from ..rerun import Scope, rerun
from ..store.audit_rows import grouped
from .coverage import against
from .refusals import refusal_problems

if TYPE_CHECKING:
    from ..store.database import Database
    from ..store.unit_of_work import UnitOfWork

Progress = Callable[[int], None]
Heads = dict[int, tuple[int, str]]


@dataclass(frozen=True)
class Context:
    """What checking any range of cases needs: the registry, the entries a checkpoint reviewed
    (how many per case), and each stored protocol's id and SHA-256."""

    registry: Registry
    reviewed: dict[int, int]
    protocol_shas: dict[int, str]
    covered: checkpoint.Covered | None = None  # the last signed checkpoint's
    quality: Quality = field(default_factory=Quality)  # the quality log, verified


@dataclass(frozen=True)
class Verification:
    """Every problem found, in case order, and how many entries were signed before keys (their
    hash, sealed by the migration, is their proof)."""

    problems: list[Problem]
    before_keys: int
    root_key: str | None = None  # the clinic's root key (the first admin's), public


def verify(
    db: Database,
    case_id: int | None = None,
    progress: Progress | None = None,
    *,
    workers: int | None = None,
    full: bool = False,
) -> list[Problem]:
    """Every problem in the record (or in one case), in case order."""
    return verify_record(db, case_id, progress, workers=workers, full=full).problems


def verify_record(
    db: Database,
    case_id: int | None = None,
    progress: Progress | None = None,
    *,
    workers: int | None = None,
    full: bool = False,
) -> Verification:
    """`verify`, with the count of entries signed before keys."""
    from .verification_pool import parallel_ranges, start_workers

    # The workers start first (forked where the system can: no second import of the package)
    # and check the cases while this process checks the rest of the record.
    ranges = parallel_ranges(db, workers) if case_id is None else []
    pool = start_workers(db, ranges, full) if ranges else None
    with db.read() as uow:
        context, problems = context_of(uow, full)
        problems += refusal_problems(uow, context.registry, case_id)
        if case_id is None:
            problems += record_problems(uow, context.registry)
            # The record must still hold what the last signed checkpoint covered (a forger who
            # also removes that checkpoint is caught with the digest kept away: --against).
            # Each case's entries are compared with it where the case is checked.
            if context.covered is not None:
                problems += against(uow, context.covered, entries=False)
    if pool is not None:
        checked = pool.gather(progress)
    else:
        with db.read() as uow:
            checked = check_range(uow, context, case_id, None, None, progress)
    problems += checked.problems
    legacy = checked.legacy
    if case_id is None:
        problems += shared_specimens(checked.specimens)
    seal = context.registry.legacy_seal
    if case_id is None and (seal or legacy):
        listing = {str(case): head for case, head in legacy.items()}
        if seal is None or heads_digest(listing) != seal.get("digest"):
            problems.append(
                Problem(RECORD, None, "entries signed before keys differ from those the "
                        "migration sealed (added, removed or rewritten)")
            )  # fmt: skip
    before = sum(seq for seq, _ in legacy.values())
    return Verification(problems, before, context.registry.root_key)


def context_of(uow: UnitOfWork, full: bool) -> tuple[Context, list[Problem]]:
    """The registry (checked), the reviewed entries, the protocols' hashes."""
    registry, problems = check_registry(uow.repo.registry_rows())
    covered = None
    for stored in reversed(uow.repo.checkpoint_rows()):
        if stored.body and not checkpoint.problem(
            stored.body, stored.digest, stored.signature, registry
        ):
            covered = checkpoint.read(stored.body)
            break
    reviewed = {c: n for c, (n, _) in covered.heads.items()} if covered and not full else {}
    quality, found = check_quality(uow.repo.quality_rows(), registry)
    context = Context(registry, reviewed, uow.repo.protocol_shas(), covered, quality)
    return context, problems + found


def record_problems(uow: UnitOfWork, registry: Registry) -> list[Problem]:
    """What is wrong beyond the cases: the operators' cache, the protocols, the checkpoints."""
    problems = []
    rows = {o.id: o for o in uow.repo.operators()}
    for holder in registry.operators():
        row = rows.pop(holder.id, None)
        cached = None if row is None else (row.name, row.role, row.active, row.public_key)
        if cached != (holder.name, holder.role, holder.active, holder.key):
            problems.append(
                Problem(RECORD, None, f"operator {holder.id}: the operators table says {cached}, "
                        f"the registry {(holder.name, holder.role, holder.active, holder.key)}")
            )  # fmt: skip
    for extra in sorted(rows):
        problems.append(
            Problem(RECORD, None, f"operator {extra} is in the operators table, not the registry")
        )
    stored = set(uow.repo.protocol_shas().values())
    for sha in registry.protocols:
        if sha not in stored:
            problems.append(Problem(RECORD, None, f"activated protocol {sha[:12]}... is missing"))
    for mark in uow.repo.checkpoint_rows():
        name = f"checkpoint {mark.digest[:16]}..."
        if mark.body is None:
            # Taken before keys: stands only as one of the migrated database's.
            sealed_at = registry.legacy_seal and registry.legacy_seal.get("recorded_at")
            if not sealed_at or mark.taken_at > sealed_at:
                problems.append(Problem(RECORD, None, f"{name} is not signed"))
            continue
        why = checkpoint.problem(mark.body, mark.digest, mark.signature, registry)
        if why:
            problems.append(Problem(RECORD, None, f"{name}: {why}"))
    return problems


@dataclass
class Checked:
    """What checking a range of cases found: its problems, the heads of its entries signed
    before keys (for the migration's seal), and where each specimen label was given (case,
    seq), for the check across cases that one specimen belongs to one case."""

    problems: list[Problem] = field(default_factory=list)
    legacy: Heads = field(default_factory=dict)
    specimens: dict[str, list[tuple[int, int]]] = field(default_factory=dict)

    def merge(self, other: Checked) -> None:
        self.problems += other.problems
        self.legacy.update(other.legacy)
        for label, places in other.specimens.items():
            self.specimens.setdefault(label, []).extend(places)


def check_range(
    uow: UnitOfWork,
    context: Context,
    case_id: int | None,
    low: int | None,
    high: int | None,
    progress: Progress | None,
) -> Checked:
    """The check of one case, or of the cases whose ids lie in [low, high] (open ends)."""
    checked = Checked()
    problems = checked.problems
    legacy = checked.legacy
    repo = uow.repo
    rows_by_id = repo.case_rows_for_audit(case_id, low, high)
    due_by_id = repo.due_rows_by_case(case_id, low, high)
    materials = repo.materials_by_case(case_id, low, high)
    deviation_rows = repo.deviations_by_case(case_id, low, high)
    seen: set[int] = set()
    covered = context.covered.heads if context.covered is not None else {}
    found: dict[tuple[int, int], str] = {}
    for cid, rows in grouped(repo.entry_rows(case_id, low, high)):
        seen.add(cid)
        if cid in covered:
            count = covered[cid][0]
            found.update({(cid, seq): digest(body) for seq, body, _ in rows if seq == count})
        chain_problems, entries, bodies, head = read_chain(cid, rows)
        problems += chain_problems
        unsigned = [e for e in entries if e.signatures is None]
        if unsigned:
            legacy[cid] = (unsigned[-1].seq, dict((s, h) for s, _, h in rows)[unsigned[-1].seq])
        row = rows_by_id.get(cid)
        if row is None or not entries:
            problems += check_case_row(row, cid, entries, head)
            continue
        # The rules the case runs under are those of the content its opening entry hashed:
        # a case row moved to another protocol, or a protocol row edited, changes nothing.
        opened = entries[0].data.get("protocol_sha256")
        ids = [pid for pid, sha in context.protocol_shas.items() if sha == opened]
        if not ids:
            problems.append(
                Problem(cid, 1, "the protocol the case was opened under is missing, or its "
                        "stored content was altered")
            )  # fmt: skip
        elif row.protocol_id not in ids:
            problems.append(
                Problem(cid, 1, "the case row names another protocol than the one it was "
                        "opened under")
            )  # fmt: skip
        if opened not in context.registry.protocols:
            problems.append(Problem(cid, 1, "the case was opened under a protocol never activated"))
        protocol = repo.protocol(ids[0] if ids else row.protocol_id)
        scope = Scope(context.reviewed.get(cid, 0), bodies)
        done = rerun(cid, entries, context.registry, protocol, scope, context.quality)
        problems += signed_prefix(cid, entries) + done.problems
        replayed = done.snapshot
        cached = materials.pop(cid, ()), deviation_rows.pop(cid, ())
        if replayed is not None:
            problems += check_caches(cid, done.materials, done.deviations, *cached)
        if replayed is not None:
            worklist = (protocol, due_by_id.pop(cid, set()))
            problems += check_case_row(row, cid, entries, head, worklist, replayed)
            if replayed.specimen_id:
                label = replayed.specimen_id
                place = (cid, specimen_given(entries, label))
                checked.specimens.setdefault(label, []).append(place)
        if progress:
            progress(len(rows))
    if covered:
        here = {c: h for c, h in covered.items() if within(c, case_id, low, high)}
        problems += covered_entries(here, found)
    for cid, stored_row in sorted(rows_by_id.items()):
        if cid not in seen and stored_row.version > 0:
            problems.append(Problem(cid, None, "case row has no entries in the log"))
    for cid in sorted((set(due_by_id) | set(materials) | set(deviation_rows)) - seen):
        problems.append(Problem(cid, None, "a worklist, trace or deviation row has no log"))
    return checked


def _within(case: int, case_id: int | None, low: int | None, high: int | None) -> bool:
    if case_id is not None:
        return case == case_id
    return (low is None or case >= low) and (high is None or case <= high)
