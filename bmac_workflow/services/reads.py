"""The reading use cases as a signed-in operator makes them: sign in (a session or the PIN,
else exit 6), read, and append what was read to the access log. The commands and the web call
these; the plain reads they wrap (queries.py, audit.py, export.py, reports.py) know nothing of
who reads.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import IO, TYPE_CHECKING, Any

from ..access import VERIFY
from . import queries
from .access import cases_shown, log_view
from .sessions import Reader, signed_read, viewer

if TYPE_CHECKING:
    from ..outcomes import CaseOutcome
    from ..store.database import Database
    from .audit import ProgressBar, Verified


def _pair(row: dict[str, Any]) -> tuple[int, str]:
    return int(row["case_id"]), str(row["patient_ref"])


def case_status(reader: Reader, case_id: int, now: datetime, db: Database) -> dict[str, Any]:
    """`case status` (and the API's case)."""
    with signed_read(reader, now, db) as (who, uow):
        result = queries.status_in(uow, case_id, now)
    log_view(who, reader, "case status", [_pair(result)], now, db)
    return result


def case_list(
    reader: Reader, state: str | None, limit: int, page: int, now: datetime, db: Database
) -> tuple[list[dict[str, Any]], int]:
    """`case list` (and the API's list): every patient listed is logged."""
    with signed_read(reader, now, db) as (who, uow):
        rows, total = queries.list_in(uow, state, limit, page, now)
    log_view(who, reader, "case list", [_pair(r) for r in rows], now, db)
    return rows, total


def case_timeline(
    reader: Reader, case_id: int, now: datetime, db: Database
) -> list[dict[str, Any]]:
    """`case timeline` (and the API's timeline)."""
    with signed_read(reader, now, db) as (who, uow):
        rows = queries.timeline_in(uow, case_id)
        shown = uow.repo.patients_of([case_id])
    log_view(who, reader, "case timeline", shown, now, db)
    return rows


def followups_due(
    reader: Reader, within: timedelta, now: datetime, db: Database
) -> list[dict[str, Any]]:
    """`followup due` (and the API's worklist)."""
    with signed_read(reader, now, db) as (who, uow):
        rows = queries.due_in(uow, within, now)
    log_view(who, reader, "followup due", [_pair(r) for r in rows], now, db)
    return rows


def trace(
    reader: Reader,
    kind: str,
    ref: str,
    since: str | None,
    reveal: bool,
    key: str | None,
    now: datetime,
    db: Database,
) -> list[dict[str, Any]]:
    """`trace lot` / `trace device`: every case traced is logged as viewed; `reveal` shows the
    patients' references to a reader whose role may reveal them (else refused, 6)."""
    from ..roles import check_permitted
    from . import trace as traces

    start = traces.start_of(since)
    with signed_read(reader, now, db) as (who, uow):
        if reveal:
            check_permitted("reveal_patient", uow.repo.role_of(who.operator_id) or "")
        found = traces.traced(uow, kind, ref, start)
    log_view(who, reader, f"trace {kind}", traces.patients(found), now, db)
    return traces.rows_of(found, reveal, key)


def deviation_list(
    reader: Reader, open_only: bool, now: datetime, db: Database
) -> list[dict[str, Any]]:
    """`deviation list`: the case of every deviation listed is logged."""
    from .deviations import listing_in

    with signed_read(reader, now, db) as (who, uow):
        rows = listing_in(uow, open_only)
        shown = uow.repo.patients_of(sorted({int(r["case_id"]) for r in rows}))
    log_view(who, reader, "deviation list", shown, now, db)
    return rows


def deviation_show(reader: Reader, number: int, now: datetime, db: Database) -> dict[str, Any]:
    """`deviation show`: its case is logged."""
    from .deviations import show_in

    with signed_read(reader, now, db) as (who, uow):
        found = show_in(uow, number)
        shown = uow.repo.patients_of([int(found["case_id"])])
    log_view(who, reader, "deviation show", shown, now, db)
    return found


def device_list(reader: Reader, now: datetime, db: Database) -> dict[str, Any]:
    """`device list`: no case is read, the read is logged all the same (who looked, when)."""
    from .quality import listing_in

    with signed_read(reader, now, db) as (who, uow):
        found = listing_in(uow)
    log_view(who, reader, "device list", [], now, db)
    return found


def replay(
    reader: Reader, case_id: int, at: str | None, now: datetime, db: Database
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """`audit replay`."""
    from .audit import replay_steps

    who = viewer(reader, now, db)
    steps, final = replay_steps(case_id, at, now, db)
    log_view(who, reader, "audit replay", [_pair(final)], now, db)
    return steps, final


def export(
    reader: Reader,
    out: IO[str],
    fmt: str,
    case_id: int | None,
    key: str | None,
    now: datetime,
    db: Database,
    progress: ProgressBar | None = None,
) -> int:
    """`audit export` in `fmt` (json, csv, fhir), with a progress bar of the entries (not for
    fhir); returns how many entries (fhir: cases)."""
    from contextlib import nullcontext

    from . import export as exports

    who = viewer(reader, now, db)
    if fmt == "fhir":
        count = exports.write_fhir(out, db, case_id, key, now)
    else:
        total = exports.entry_count(case_id, db)
        with progress(total) if progress else nullcontext() as advance:
            if fmt == "json":
                count = exports.write_json(out, db, case_id, key, now, advance)
            else:
                count = exports.write_csv(out, db, case_id, key, advance)
    shown = cases_shown(None if case_id is None else [case_id], db)
    log_view(who, reader, "audit export", shown, now, db)
    return count


def outcomes(
    reader: Reader, case_id: int | None, now: datetime, db: Database
) -> tuple[list[CaseOutcome], dict[str, Any]]:
    """`report outcomes`: every knee reported is logged."""
    from .reports import outcomes as report

    who = viewer(reader, now, db)
    cases, result = report(case_id, db)
    log_view(who, reader, "report outcomes", [(c.case_id, c.patient_ref) for c in cases], now, db)
    return cases, result


def verify(
    reader: Reader,
    now: datetime,
    db: Database,
    case_id: int | None = None,
    against: str | None = None,
    progress: ProgressBar | None = None,
    full: bool = False,
    root: str | None = None,
) -> Verified:
    """`audit verify`; its result is kept in the access log (the web's case page shows the
    last one)."""
    from .audit import audit_verify

    who = viewer(reader, now, db)
    done = audit_verify(db, case_id, against, progress, full, root)
    scope = "record" if case_id is None else f"case {case_id}"
    result = f"{scope}: " + (f"{len(done.problems)} problem(s)" if done.problems else "verified")
    log_view(who, reader, VERIFY, [], now, db, result=result)
    return done
