"""The web board: the cases in flight grouped by state, with the harvest→injection countdown,
and the follow-up worklist; and the case page. Read as a signed-in operator (services/reads.py)
and logged like every read."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from ..access import VERIFY, masked
from ..protocol import Protocol
from ..record import CaseSnapshot
from ..states import FOLLOW_UP, workflow
from ..timeutil import LocalDays, from_iso
from . import queries
from .access import log_view
from .board_deviations import open_deviations, shown_with
from .deviations import of_case
from .sessions import Reader, Viewer, signed_read, viewer

if TYPE_CHECKING:
    from ..store.database import Database

# The countdown turns amber in the window's last minutes, red once it has passed.
AMBER_MINUTES = 30
DUE_WITHIN = timedelta(days=7)


# What the board keeps of the sessions it served last (what each was shown): a session beyond
# these has its next refresh logged again, never less.
_SESSIONS_KEPT = 64
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


class _Unseen:
    version = -1


_NONE: Any = _Unseen()


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


@dataclass(frozen=True)
class OnBoard:
    """A case on the board as one version of it shows: kept between views (`BoardCache`) until
    its version moves (every entry appended to a case moves it)."""

    case_id: int
    version: int
    state: str
    knee: str
    patient_ref: str
    patient: str  # masked
    updated: int  # µs since the epoch (whole-number arithmetic at each view)
    signed_by: str
    next_step: str | None
    next_command: str | None
    harvested: int | None  # µs since the epoch, while the harvest→injection window runs
    window: float  # the window's minutes under the case's protocol
    pair: tuple[int, str]  # (case, patient), as the access log names what was shown
    # What a page made of this version of the case, kept with it (the web's rendered row).
    scratch: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


# A case on the board at `now`: (the case, its minutes in the state, the whole minutes left of
# its window or None, the countdown's colour or None). Plain tuples: thousands per view.
BoardRow = tuple[OnBoard, int, int | None, str | None]


@dataclass(frozen=True)
class DueOnBoard:
    """A follow-up visit on the board's worklist, as its worklist row shows (kept between
    views)."""

    case_id: int
    patient_ref: str
    patient: str  # masked
    knee: str
    visit: str
    due_date: date
    pair: tuple[int, str]
    scratch: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


class DueRow(NamedTuple):
    """A visit on the worklist today: how many days late it is (0: not yet)."""

    visit: DueOnBoard
    days_overdue: int


class Worklist:
    """The board's follow-up worklist as it stands on `today` from its worklist `rows`: the
    same rows on the same day make the same list, kept between views with what a page made of
    it (`scratch`)."""

    def __init__(self, rows: list[tuple[Any, ...]], today: date, visits: list[DueRow]) -> None:
        self.rows = rows
        self.today = today
        self.visits = visits
        self.pairs = [visit.pair for visit, _ in visits]
        self.scratch: dict[str, Any] = {}

    def __len__(self) -> int:
        return len(self.visits)

    def __iter__(self) -> Iterator[DueRow]:
        return iter(self.visits)


class BoardCache:
    """What the board keeps between views: each case in flight at the version last shown, each
    worklist row, and (`seen`) what each session was last shown. Safe across the server's
    threads: a view replaces whole entries, and a case whose version moved is read again."""

    def __init__(self) -> None:
        self.cases: dict[int, OnBoard] = {}
        self.due: dict[tuple[Any, ...], DueOnBoard] = {}
        self.worklist: Worklist | None = None
        self.seen: dict[str, tuple[tuple[int, str], ...]] = {}
        self.lock = threading.Lock()


def minutes_left(harvested: int, at: int, window: float) -> float:
    """`rules.window_minutes_left` on whole µs since the epoch (the same float operations,
    without making datetimes: the board computes it for every case in the window)."""
    return round(window - (at - harvested) / 10**6 / 60.0, 1)


def _micros(when: datetime) -> int:
    """An instant as whole µs since the epoch."""
    return (when - _EPOCH) // _MICRO


def _on_board(facts: str, protocol: Protocol, last_body: str, flow: Any) -> OnBoard:
    case = CaseSnapshot.from_facts(json.loads(facts))
    signer = json.loads(last_body)["signer"]
    step = flow.next_step(case.state)
    running = case.state in flow.window_states and case.harvested_at
    return OnBoard(
        case_id=case.case_id,
        version=case.version,
        state=case.state,
        knee=case.knee,
        patient_ref=case.patient_ref,
        patient=masked(case.patient_ref),
        updated=_micros(from_iso(case.updated_at)),
        signed_by=f"{signer['name']} ({signer['role']})",
        next_step=step,
        next_command=flow.command(step) if step else None,
        harvested=_micros(from_iso(case.harvested_at)) if running and case.harvested_at else None,
        window=protocol.window_minutes,
        pair=(case.case_id, case.patient_ref),
    )


def board(
    reader: Reader, now: datetime, db: Database, cache: BoardCache | None = None
) -> dict[str, Any]:
    """The board: {"states": [(state, [BoardRow, ...]), ...], "due": [...], "deviations": the
    open ones (board_deviations.py), "now": ...}.

    The cases in flight are read from the (state, id, version) index; only those not in
    `cache` at their version are read in full. Each view is logged; a refresh of the page (not
    the operator's doing) that shows the same cases as the session's last logged view is not
    logged again (the entry of that view covers it)."""
    cache = cache if cache is not None else BoardCache()
    states = in_flight()
    flow = workflow()
    with signed_read(reader, now, db) as (who, uow):
        flying = uow.repo.in_flight(states)
        mine = {case_id: cache.cases.get(case_id, _NONE) for case_id, _ in flying}
        stale = [case_id for case_id, version in flying if mine[case_id].version != version]
        if stale:
            rows = uow.repo.board_rows(stale)
            protocols = {pid: uow.repo.protocol(pid) for pid in {r[1] for r in rows}}
            for facts, protocol_id, last_body in rows:
                found = _on_board(facts, protocols[protocol_id], last_body, flow)
                mine[found.case_id] = cache.cases[found.case_id] = found
        today, horizon = queries.due_horizon(DUE_WITHIN, now)
        worklist = uow.repo.worklist_before(horizon)
        flagged = open_deviations(uow)
    _prune(cache.cases, mine)
    at = _micros(now)
    grouped: dict[str, list[BoardRow]] = {state: [] for state in states}
    shown = []
    for case_id, _ in flying:
        case = mine[case_id]
        if case is _NONE:  # moved out of flight between the two reads
            continue
        minutes = (at - case.updated) // 60_000_000
        if case.harvested is None:
            grouped[case.state].append((case, minutes, None, None))
        else:
            left = minutes_left(case.harvested, at, case.window)
            grouped[case.state].append((case, minutes, int(left // 1), countdown(left)))
        shown.append(case.pair)
    listed = cache.worklist
    if listed is None or listed.today != today or listed.rows != worklist:
        listed = cache.worklist = _worklist(worklist, today, cache.due)
    shown = shown_with(shown + listed.pairs, flagged)
    _log_board(who, reader, shown, now, db, cache)
    in_states = [(s, grouped[s]) for s in states if grouped[s]]
    return {"states": in_states, "due": listed, "deviations": flagged, "now": now}


def _worklist(rows: list[tuple[Any, ...]], today: date, kept: dict[Any, DueOnBoard]) -> Worklist:
    """The worklist of `rows` on `today` (each visit made once, kept in `kept`)."""
    day_of = LocalDays()
    visits = []
    for row in rows:
        visit = kept.get(row)
        if visit is None:
            case_id, name, due_at, patient_ref, knee = row
            visit = kept[row] = DueOnBoard(
                case_id,
                patient_ref,
                masked(patient_ref),
                knee,
                name,
                day_of(due_at),
                (case_id, patient_ref),
            )
        visits.append(DueRow(visit, max((today - visit.due_date).days, 0)))
    _prune(kept, rows)
    return Worklist(rows, today, visits)


def _prune(kept: dict[Any, Any], wanted: Any) -> None:
    """Forget what the board no longer shows, once the cache is twice what it shows."""
    if len(kept) > 2 * len(wanted) + 100:
        keep = set(wanted)
        for key in [k for k in list(kept) if k not in keep]:
            kept.pop(key, None)


def _log_board(
    who: Viewer,
    reader: Reader,
    shown: list[tuple[int, str]],
    now: datetime,
    db: Database,
    cache: BoardCache,
) -> None:
    """Log a view of the board, unless it is a refresh showing what the session's last logged
    view showed."""
    session = who.session_id
    mark = tuple(shown)
    if session is None or reader.touch or cache.seen.get(session) != mark:
        log_view(who, reader, "board", shown, now, db)
        if session is not None:
            with cache.lock:
                cache.seen.pop(session, None)
                cache.seen[session] = mark
                while len(cache.seen) > _SESSIONS_KEPT:  # the least recent goes
                    del cache.seen[next(iter(cache.seen))]


def case_page(reader: Reader, case_id: int, now: datetime, db: Database) -> dict[str, Any]:
    """A case's page: its status, its timeline, its deviations, and the last `audit verify`."""
    with signed_read(reader, now, db) as (who, uow):
        status = queries.status_in(uow, case_id, now)
        timeline = queries.timeline_in(uow, case_id)
        deviations = of_case(uow, case_id)
        last = uow.repo.last_access(VERIFY)
    log_view(who, reader, "case page", [(case_id, status["patient_ref"])], now, db)
    verified = None if last is None else {"at": last.at, "result": last.result}
    return {"status": status, "timeline": timeline, "deviations": deviations, "verified": verified}
