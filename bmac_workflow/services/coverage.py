"""What a signed checkpoint covers against the record as it is now: entries gone or rewritten,
case ids given again, the registry, the protocols, the refusals and the access log. Every `audit
verify` runs it against the last signed checkpoint; `--against DIGEST` against a chosen one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import checkpoint
from ..checks import RECORD, Problem, covered_entries

if TYPE_CHECKING:
    from ..store.unit_of_work import UnitOfWork


def against(uow: UnitOfWork, covered: checkpoint.Covered, *, entries: bool = True) -> list[Problem]:
    """What differs between the record and what a signed checkpoint covers: entries gone or
    rewritten (unless `entries` is false: verify compares them case by case as it checks
    them), cases given an id the checkpoint had seen, the registry, the protocols."""
    problems = []
    if entries:
        wanted = sorted((case, count) for case, (count, _) in covered.heads.items())
        problems += covered_entries(covered.heads, uow.repo.head_hashes(wanted))
    for case in uow.repo.case_ids():
        if case <= covered.last_case and case not in covered.heads:
            problems.append(
                Problem(case, None, "the case was not in the record at the checkpoint (its id "
                        "given again, or inserted)")
            )  # fmt: skip
    rows = {seq: stored for seq, _, stored in uow.repo.registry_rows()}
    length, head = covered.registry
    if length and rows.get(length) != head:
        problems.append(Problem(RECORD, length, "the registry the checkpoint covers was rewritten"))
    stored = set(uow.repo.protocol_shas().values())
    for sha in covered.protocols:
        if sha not in stored:
            problems.append(
                Problem(RECORD, None, f"protocol {sha[:12]}... the checkpoint covers is gone")
            )
    return problems + _side_logs(uow, covered)


def _side_logs(uow: UnitOfWork, covered: checkpoint.Covered) -> list[Problem]:
    """The refusals and the access log against the heads the checkpoint covers: their last
    entries removed, or rewritten with their chain, differ there only."""
    problems = []
    if covered.refusals:
        now = {(case, seq): stored for case, seq, _, stored in uow.repo.refusal_rows()}
        for case, (count, head) in sorted(covered.refusals.items()):
            if now.get((case, count)) != head:
                problems.append(
                    Problem(case, None, f"the refusals the checkpoint covers (up to refusal "
                            f"{count}) were removed or rewritten")
                )  # fmt: skip
    length, head = covered.access
    if length and uow.repo.access_hash(length) != head:
        problems.append(
            Problem(RECORD, None, f"the access log the checkpoint covers (up to entry {length}) "
                    "was removed or rewritten")
        )  # fmt: skip
    return problems
