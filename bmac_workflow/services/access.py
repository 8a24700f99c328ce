"""The access log as the services write and read it: one entry per read of cases, and
`bmac audit access`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..access import Access, AccessFilter, check_chain, subjects
from ..checks import Problem
from ..timeutil import iso, parse_at
from .sessions import Reader, Viewer, viewer

if TYPE_CHECKING:
    from ..store.database import Database
    from ..store.unit_of_work import UnitOfWork


def log_view(
    who: Viewer,
    reader: Reader,
    what: str,
    shown: Iterable[tuple[int, str]],
    now: datetime,
    db: Database,
    result: str | None = None,
) -> Access:
    """Append who read what (the (case, patient) pairs shown) and, in a session, start its idle
    time again: one write unit of work."""
    cases, patients = subjects(shown)
    entry = Access(0, iso(now), who.operator_id, reader.channel, what, cases, patients, result)
    if db.read_only:
        return entry  # a copy on read-only media: the command said the read is not logged
    with db.write() as uow:
        entry = uow.repo.append_access(entry)
        if who.session_id is not None and reader.touch:
            uow.repo.touch_session(who.session_id, iso(now))
        uow.commit()
    return entry


def cases_shown(case_ids: list[int] | None, db: Database) -> list[tuple[int, str]]:
    """The (case, patient) pairs of the given cases (None: every case)."""
    with db.read() as uow:
        return uow.repo.patients_of(case_ids)


def access_entries(
    reader: Reader, found: AccessFilter, now: datetime, db: Database
) -> list[dict[str, Any]]:
    """`bmac audit access`: the entries that pass the filter, oldest first (this listing is
    itself a read, logged after it, naming the cases it showed)."""
    who = viewer(reader, now, db)
    since = iso(parse_at(found.since)) if found.since else None
    found = AccessFilter(found.patient, found.case_id, found.operator, since)
    with db.read() as uow:
        rows = uow.repo.access_rows(found.operator, since)
    listed = [e for e in (Access.from_body(r.body) for r in rows) if found.holds(e)]
    ids = sorted({c for e in listed for c in e.cases})
    wanted = set(ids)
    shown = cases_shown(ids if len(ids) <= 500 else None, db)
    log_view(who, reader, "audit access", [s for s in shown if s[0] in wanted], now, db)
    return [e.plain() for e in listed]


def access_problems(uow: UnitOfWork) -> list[Problem]:
    """What `audit verify` finds wrong with the access log."""
    return check_chain(uow.repo.access_rows())
