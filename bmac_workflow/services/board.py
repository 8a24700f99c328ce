"""The web board: the cases in flight grouped by state, with the harvest→injection countdown,
and the follow-up worklist; and the case page. Read as a signed-in operator (services/reads.py)
and logged like every read."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from ..access import VERIFY, masked
from ..protocol import Protocol
from ..record import CaseSnapshot
from ..states import FOLLOW_UP, workflow
from ..timeutil import from_iso
from . import queries
from .access import log_view
from .board_deviations import OpenDeviations, open_deviations, shown_with
from .board_worklist import DueOnBoard, Worklist, prune
from .board_worklist import worklist as worklist_of
from .deviations import of_case
from .sessions import Reader, Viewer, signed_read, viewer

if TYPE_CHECKING:
    from ..store.database import Database
    from ..store.unit_of_work import UnitOfWork

# The countdown turns amber in the window's last minutes, red once it has passed.
AMBER_MINUTES = 30
DUE_WITHIN = timedelta(days=7)


# What the board keeps of the sessions it served last (what each was shown): a session beyond
# these has its next refresh logged again, never less.
_SESSIONS_KEPT = 64
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
# How much earlier than the float arithmetic says a window's row is made again (µs).
_SLACK = 1000


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


# A case's row at an instant: (its whole minutes in the state, the whole minutes left of its
# window or None, the countdown's colour or None, the µs since the epoch until which these three
# hold). Plain tuples: thousands per view.
RowAt = tuple[int, int | None, str | None, int]


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
        # The last view's cases in flight (their (id, version) rows), grouped by state, and the
        # pairs they show: the same rows make the same groups (each replaced whole).
        self.flying: _Flying | None = None
        # The last open deviations (kept while the same, with what a page made of them), and the
        # pairs the last view logged with the groups, worklist and deviations they came from.
        self.deviations: OpenDeviations | None = None
        self.shown: tuple[object, object, object, list[tuple[int, str]]] | None = None


class _Flying(NamedTuple):
    rows: list[tuple[int, int]]
    states: list[tuple[str, list[OnBoard]]]
    pairs: list[tuple[int, str]]


def minutes_left(harvested: int, at: int, window: float) -> float:
    """`rules.window_minutes_left` on whole µs since the epoch (the same float operations,
    without making datetimes: the board computes it for every case in the window)."""
    return round(window - (at - harvested) / 10**6 / 60.0, 1)


def row_at(case: OnBoard, at: int) -> RowAt:
    """A case's row at `at` (µs since the epoch): its whole minutes in the state, its window's
    whole minutes left and countdown colour (None outside the window), and the µs until which
    all three hold (the row is kept until then: a little early rather than late)."""
    minutes = (at - case.updated) // 60_000_000
    until = case.updated + (minutes + 1) * 60_000_000
    if case.harvested is None:
        return minutes, None, None, until
    left = minutes_left(case.harvested, at, case.window)
    whole = int(left // 1)
    # The minutes left only fall, rounded to 0.1 as the rule does: the whole minutes and the
    # colour hold while the unrounded figure stays above `lowest` - 0.05, `lowest` the least
    # figure they show (30.1 on the amber line, as 30.0 is amber): kept to `lowest` - 0.04.
    lowest = whole + 0.1 if whole == AMBER_MINUTES and left > AMBER_MINUTES else float(whole)
    holds = case.harvested + int((case.window - lowest + 0.04) * 60_000_000) - _SLACK
    return minutes, whole, countdown(left), max(at + 1, min(until, holds))


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
    """The board: {"states": [(state, [OnBoard, ...]), ...], "due": [...], "deviations": the
    open ones (board_deviations.py), "at": `now` in µs since the epoch (`row_at`), "now": ...}.

    The cases in flight are read from the (state, id, version) index; only those not in
    `cache` at their version are read in full, and the same rows as the last view's make the
    same groups. Each view is logged; a refresh of the page (not the operator's doing) that
    shows the same cases as the session's last logged view is not logged again (the entry of
    that view covers it)."""
    cache = cache if cache is not None else BoardCache()
    with signed_read(reader, now, db) as (who, uow):
        rows = uow.repo.in_flight(in_flight())
        flying = cache.flying
        if flying is None or flying.rows != rows:
            flying = cache.flying = _grouped(uow, rows, cache.cases)
        today, horizon = queries.due_horizon(DUE_WITHIN, now)
        worklist = uow.repo.worklist_before(horizon)
        flagged = open_deviations(uow)
    if cache.deviations is not None and cache.deviations == flagged:
        flagged = cache.deviations  # with what a page made of them
    else:
        cache.deviations = flagged
    listed = cache.worklist
    if listed is None or listed.today != today or listed.rows != worklist:
        listed = cache.worklist = worklist_of(worklist, today, cache.due)
    kept = cache.shown
    if kept is not None and kept[0] is flying and kept[1] is listed and kept[2] is flagged:
        shown = kept[3]
    else:
        shown = shown_with(flying.pairs + listed.pairs, flagged)
        cache.shown = (flying, listed, flagged, shown)
    _log_board(who, reader, shown, now, db, cache)
    return {
        "states": flying.states,
        "due": listed,
        "deviations": flagged,
        "at": _micros(now),
        "now": now,
    }


def _grouped(uow: UnitOfWork, rows: list[tuple[int, int]], kept: dict[int, OnBoard]) -> _Flying:
    """The cases of `rows` ((id, version), by id) grouped by state, read in full where `kept`
    does not hold them at their version, and the (case, patient) pairs they show."""
    states = in_flight()
    mine = {case_id: kept.get(case_id, _NONE) for case_id, _ in rows}
    stale = [case_id for case_id, version in rows if mine[case_id].version != version]
    if stale:
        flow = workflow()
        found = uow.repo.board_rows(stale)
        protocols = {pid: uow.repo.protocol(pid) for pid in {r[1] for r in found}}
        for facts, protocol_id, last_body in found:
            case = _on_board(facts, protocols[protocol_id], last_body, flow)
            mine[case.case_id] = kept[case.case_id] = case
    prune(kept, mine)
    grouped: dict[str, list[OnBoard]] = {state: [] for state in states}
    pairs = []
    for case_id, _ in rows:
        case = mine[case_id]
        if case is _NONE:  # moved out of flight between the two reads
            continue
        grouped[case.state].append(case)
        pairs.append(case.pair)
    return _Flying(rows, [(s, grouped[s]) for s in states if grouped[s]], pairs)


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
