"""`report outcomes`: each treated knee's scores over its visits, read from the log."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import NotFound
from ..outcomes import CaseOutcome, case_outcome, report
from ..record import effective_data

if TYPE_CHECKING:
    from ..store.database import Database


def outcomes(case_id: int | None, db: Database) -> tuple[list[CaseOutcome], dict[str, Any]]:
    """The cases (one asked for, or every injected case) and the report over them."""
    found = []
    with db.read() as uow:
        if case_id is not None:
            if uow.repo.case_version(case_id) is None:
                raise NotFound(f"no case {case_id}: see `bmac case list`")
            ids = [case_id]
        else:
            ids = uow.repo.case_ids()
        for cid in ids:
            entries = [entry for entry, _ in uow.repo.entries(cid)]
            data = effective_data(entries)
            rows = [{"action": e.action, "at": e.at, "data": data[e.seq]} for e in entries]
            first = entries[0].data if entries else {}
            outcome = case_outcome(cid, first.get("patient_ref", "?"), first.get("knee", "?"), rows)
            # The cohort is the knees that were treated; one case asked for is shown whatever.
            if case_id is not None or outcome.injected_at is not None:
                found.append(outcome)
    return found, report(found)
