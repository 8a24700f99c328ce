"""The web board: the cases in flight grouped by state, with the harvest→injection countdown,
and the follow-up worklist; and the case page. Read as a signed-in operator (services/reads.py)
and logged like every read."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..access import VERIFY, masked
from ..record import CaseSnapshot, canonical, digest
from ..states import FOLLOW_UP, workflow
from ..timeutil import from_iso
from . import queries
from .access import log_view
from .sessions import Reader, viewer

if TYPE_CHECKING:
    from ..store.database import Database

# The countdown turns amber in the window's last minutes, red once it has passed.
AMBER_MINUTES = 30
DUE_WITHIN = timedelta(days=7)


def in_flight() -> list[str]:
    """The states of a case between its opening and its injection, in the workflow's order."""
    states = list(workflow().states)
    return states[: states.index(FOLLOW_UP)]


def countdown(minutes_left: float | None) -> str | None:
    """The colour of a window's countdown: ok, amber (its last 30 minutes), red (passed)."""
    if minutes_left is None:
        return None
    if minutes_left < 0:
        return "red"
    return "amber" if minutes_left <= AMBER_MINUTES else "ok"


def signed_in(reader: Reader, now: datetime, db: Database) -> str:
    """The operator a reader signs in as (exit 6 without a session), for pages that show no
    case (the API's documentation)."""
    return viewer(reader, now, db).operator_id


def board(
    reader: Reader, now: datetime, db: Database, seen: dict[str, str] | None = None
) -> dict[str, Any]:
    """The board: {"states": [(state, [row, ...]), ...], "due": [...], "now": ...}.

    Each view is logged; a refresh of the page (not the operator's doing) that shows the same
    cases as the session's last logged view is not logged again (`seen`: session id -> a
    digest of the cases it was last shown): the entry of that view covers it."""
    who = viewer(reader, now, db)
    states = in_flight()
    with db.read() as uow:
        rows = uow.repo.board_rows(states)
        protocols = {pid: uow.repo.protocol(pid) for pid in {r[1] for r in rows}}
    flow = workflow()
    grouped: dict[str, list[dict[str, Any]]] = {state: [] for state in states}
    shown = []
    for facts, protocol_id, last_body in rows:
        case = CaseSnapshot.from_facts(json.loads(facts))
        status = queries.status_of(case, protocols[protocol_id], now)
        signer = json.loads(last_body)["signer"]
        left = status["window_minutes_left"]
        grouped[case.state].append(
            {
                "case_id": case.case_id,
                "knee": case.knee,
                "patient": masked(case.patient_ref),
                "minutes_in_state": int((now - from_iso(case.updated_at)).total_seconds() // 60),
                "signed_by": f"{signer['name']} ({signer['role']})",
                "next_step": status["next_step"],
                "next_command": flow.command(status["next_step"]) if status["next_step"] else None,
                "minutes_left": None if left is None else int(left // 1),
                "countdown": countdown(left),
            }
        )
        shown.append((case.case_id, case.patient_ref))
    due = queries.due(DUE_WITHIN, now, db)
    for row in due:
        shown.append((row["case_id"], row["patient_ref"]))
        row["patient"] = masked(row.pop("patient_ref"))
    mark = digest(canonical(sorted(shown)))
    if seen is None or who.session_id is None or reader.touch or seen.get(who.session_id) != mark:
        log_view(who, reader, "board", shown, now, db)
        if seen is not None and who.session_id is not None:
            seen[who.session_id] = mark
    return {"states": [(s, grouped[s]) for s in states if grouped[s]], "due": due, "now": now}


def case_page(reader: Reader, case_id: int, now: datetime, db: Database) -> dict[str, Any]:
    """A case's page: its status, its timeline, and the last `audit verify`."""
    who = viewer(reader, now, db)
    status = queries.status(case_id, now, db)
    timeline = queries.timeline(case_id, db)
    with db.read() as uow:
        last = uow.repo.last_access(VERIFY)
    log_view(who, reader, "case page", [(case_id, status["patient_ref"])], now, db)
    verified = None if last is None else {"at": last.at, "result": last.result}
    return {"status": status, "timeline": timeline, "verified": verified}
