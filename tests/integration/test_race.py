"""Two workstations, one case, the same step at the same moment: exactly one of them wins.

The workstations are real processes (SQLite's locks are per process), each with its own engine,
signing in with their operators' real PINs. Both read the case's version as `bmac` does before
the PIN prompt, meet at a barrier while typing the PIN, then write: the loser must get exit 7
naming who logged first, and nothing of its attempt may be written.
"""

from __future__ import annotations

import multiprocessing
import re
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import event, text

from bmac_workflow.errors import Conflict
from bmac_workflow.record import Entry
from bmac_workflow.services.cases import StepRequest, log_step
from bmac_workflow.services.verification import verify
from bmac_workflow.store.database import Database
from bmac_workflow.store.engine import make_engine
from bmac_workflow.timeutil import utcnow
from tests.conftest import Clinic, advance_to
from tests.walk import PINS, step_values
from tests.workers.race import race_opens, race_steps

ROUNDS = 50
pytestmark = pytest.mark.slow


def _run_pair(target: Any, args_a: tuple[Any, ...], args_b: tuple[Any, ...], n: int) -> list[Any]:
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    workers = [
        ctx.Process(target=target, args=(*args, barrier, results)) for args in (args_a, args_b)
    ]
    for w in workers:
        w.start()
    outcomes = [results.get(timeout=300) for _ in range(2 * n)]
    for w in workers:
        w.join(timeout=60)
        assert w.exitcode == 0
    return outcomes


def test_the_same_step_from_two_workstations_succeeds_exactly_once_50_times(
    clinic: Clinic,
) -> None:
    case_ids = [clinic.open(f"P-{n:04d}") for n in range(ROUNDS)]
    for case_id in case_ids:
        advance_to(clinic, case_id, "filtering")
    entries_before = clinic.count("entries")
    rounds = [(c, "filter", step_values("filter", c)) for c in case_ids]

    outcomes = _run_pair(
        race_steps,
        (clinic.url, "nurse", PINS["nurse"], rounds),
        (clinic.url, "nurse2", PINS["nurse2"], rounds),
        ROUNDS,
    )

    by_case: dict[int, list[tuple[str, int, Any]]] = {}
    for case_id, who, code, detail in outcomes:
        by_case.setdefault(case_id, []).append((who, code, detail))
    assert sorted(by_case) == sorted(case_ids)
    for case_id, pair in by_case.items():
        codes = sorted(code for _, code, _ in pair)
        assert codes == [0, 7], (case_id, pair)
        winner = next(who for who, code, _ in pair if code == 0)
        message = next(detail for _, code, detail in pair if code == 7)
        assert re.fullmatch(
            rf"case {case_id} changed under you: {re.escape(winner)} logged filter at "
            rf"\d{{4}}-\d\d-\d\d \d\d:\d\d \S+; check `bmac case status {case_id}`",
            message,
        ), message
        with clinic.uow(write=False) as uow:
            log = [e for e, _ in uow.repo.entries(case_id)]
            found = uow.repo.get_case(case_id)
        assert found is not None and found[0].state == "centrifugation"
        assert [e.action for e in log] == ["open", "assess", "collect", "filter"]
        assert log[-1].signer.id == winner
    assert clinic.count("entries") == entries_before + ROUNDS
    assert verify(clinic.db) == []


def test_two_workstations_opening_cases_at_once_both_succeed_with_ids_of_their_own(
    clinic: Clinic,
) -> None:
    rounds = 10
    outcomes = _run_pair(
        race_opens,
        (clinic.url, "nurse", PINS["nurse"], rounds),
        (clinic.url, "surgeon", PINS["surgeon"], rounds),
        rounds,
    )

    assert [code for _, _, code, _ in outcomes] == [0] * 20, outcomes
    assert sorted(case_id for _, _, _, case_id in outcomes) == list(range(1, 21))
    assert (clinic.count("protocols"), clinic.count("cases")) == (1, 20)
    assert verify(clinic.db) == []


def test_the_unique_case_seq_constraint_refuses_a_second_entry_with_the_same_seq(
    clinic: Clinic,
) -> None:
    case_id = clinic.open()
    with clinic.uow() as uow:
        first = uow.repo.entries(case_id)[0][0]
    with pytest.raises(Conflict, match=f"case {case_id} changed under you"), clinic.uow() as uow:
        uow.repo.append(Entry(**{**first.__dict__, "recorded_at": "2026-01-01T00:00:00.000000Z"}))
    with clinic.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM entries")).scalar_one() == 1


def test_a_case_row_written_from_a_stale_version_is_refused(clinic: Clinic) -> None:
    case_id = clinic.open()
    advance_to(clinic, case_id, "marrow_collection")
    with clinic.uow() as uow:
        found = uow.repo.get_case(case_id)
        assert found is not None
        with pytest.raises(Conflict, match=f"case {case_id} changed under you"):
            uow.repo.save_case(found[0], replace(found[0], version=1))
    assert clinic.count("entries") == 2


def test_a_workstation_that_cannot_get_the_lock_in_time_gets_exit_7_not_a_traceback(
    clinic: Clinic,
) -> None:
    case_id = clinic.open()
    advance_to(clinic, case_id, "filtering")
    impatient = make_engine(clinic.url)
    if impatient.dialect.name == "sqlite":

        def short_wait(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute("PRAGMA busy_timeout = 50")

        event.listen(impatient, "connect", short_wait)
        hold = "BEGIN IMMEDIATE"
    else:

        def short_wait(dbapi_connection: Any, _record: Any) -> None:
            # Committed, so that it outlives the rollback that ends each unit of work (the
            # service reads the case, then signs in, before it writes).
            dbapi_connection.execute("SET lock_timeout = '50ms'")
            dbapi_connection.commit()

        event.listen(impatient, "connect", short_wait)
        hold = f"SELECT id FROM cases WHERE id = {case_id} FOR UPDATE"
    # Another workstation holds the lock (SQLite: the write lock; PostgreSQL: the case row).
    other = clinic.engine.raw_connection()
    try:
        cursor = other.cursor()
        if clinic.engine.dialect.name == "postgresql":
            cursor.execute("BEGIN")
        cursor.execute(hold)
        with pytest.raises(Conflict) as refused:
            log_step(
                StepRequest(case_id, "filter", step_values("filter", case_id)),
                clinic.credentials("nurse"),
                utcnow,
                Database(impatient),
            )
        assert refused.value.exit_code == 7
        assert "another workstation is writing; try again" in refused.value.message
    finally:
        other.rollback()
        other.close()
        impatient.dispose()
    assert clinic.count("entries") == 3
