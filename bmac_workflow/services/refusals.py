"""Keep a refused step in the refusals log (refusal.py): a unit of work of its own, committed
although the step fails, signed by the operator who tried it. It never moves the case."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..checks import Problem
from ..errors import BmacError, Conflict
from ..record import GENESIS, Meaning
from ..refusal import Refusal, problems
from ..timeutil import iso
from .signing import SignedIn, record

if TYPE_CHECKING:
    from ..guards import Request
    from ..record import CaseSnapshot
    from ..registry import Registry
    from ..steps import Step
    from ..store.database import Database
    from ..store.unit_of_work import UnitOfWork

_ATTEMPTS = 3  # two workstations refused on one case at once: the later one numbers again


def log_refused(
    step: Step,
    request: Request,
    refused: BmacError,
    case: CaseSnapshot,
    data: dict[str, Any],
    signed: SignedIn,
    clinical: datetime,
    now: datetime,
    db: Database,
) -> bool:
    """Log the refusal when one of the step's guards gave it and the step keeps its refusals;
    True when it was written (with what the sign-in changes), False when nothing was."""
    guard = next((g for g in step.guards if not g.holds(request)), None)
    if not step.refusals_logged or guard is None:
        return False
    signer = signed.signer(Meaning.ATTEMPTED)
    for _ in range(_ATTEMPTS):
        try:
            with db.write() as uow:
                position = record(signed, now, uow) or signed.registry.length
                last = uow.repo.last_refusal(case.case_id)
                refusal = Refusal(
                    case_id=case.case_id,
                    seq=last[0] + 1 if last else 1,
                    action=step.trigger,
                    state=case.state,
                    after=case.version,
                    rule=guard.name,
                    message=refused.message,
                    at=iso(clinical),
                    recorded_at=iso(now),
                    signer=signer.signature,
                    data=data,
                    prev_hash=last[1] if last else GENESIS,
                    registry=position,
                )
                signature = signer.sign(refusal.content())
                uow.repo.append_refusal(replace(refusal, signatures={"signer": signature}))
                uow.commit()
            return True
        except Conflict:
            continue
        except BmacError:
            return False
    return False


def refusal_problems(uow: UnitOfWork, registry: Registry, case_id: int | None) -> list[Problem]:
    """Every problem of the refusals log (of one case, or all): chains, hashes, signatures."""
    by_case: dict[int, list[tuple[int, str, str]]] = {}
    for row_case, seq, body, found in uow.repo.refusal_rows(case_id):
        by_case.setdefault(row_case, []).append((seq, body, found))
    result = []
    for row_case, rows in sorted(by_case.items()):
        count = uow.repo.case_version(row_case)
        for seq, why in problems(row_case, rows, registry, count):
            result.append(Problem(row_case, None, f"refusal {seq}: {why}"))
    return result
