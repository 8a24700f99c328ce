"""`audit verify` on a large record runs worker processes (forked on Linux, fresh interpreters
elsewhere): they must find exactly what one process finds, in the same order, on an altered
record as on a clean one. The record here is small; the threshold is lowered to reach them."""

from __future__ import annotations

import pytest

from bmac_workflow.services import verification_pool
from bmac_workflow.services.checkpoints import take_checkpoint
from bmac_workflow.services.verification import verify
from bmac_workflow.timeutil import utcnow
from tests.conftest import Clinic, advance_to
from tests.integration.test_tamper import forgeable, rewrite, sql


@pytest.fixture
def pooled(monkeypatch: pytest.MonkeyPatch, clinic: Clinic) -> Clinic:
    monkeypatch.setattr(verification_pool, "PARALLEL_MIN_ENTRIES", 1)
    return clinic


def by_workers(clinic: Clinic, full: bool = False) -> list[object]:
    ranges = verification_pool.parallel_ranges(clinic.db, 2)
    assert len(ranges) == 32, "the record is checked in ranges by two workers"
    return verify(clinic.db, workers=2, full=full)  # type: ignore[return-value]


@pytest.mark.parametrize("start", ["_forked", "_spawned"])
def test_workers_find_what_one_process_finds(
    pooled: Clinic, monkeypatch: pytest.MonkeyPatch, start: str
) -> None:
    if start == "_spawned":
        monkeypatch.setattr(verification_pool.sys, "platform", "spawn-only")
    clinic = forgeable(pooled)
    extra = [clinic.open(patient=f"P-1{n:03d}") for n in range(4)]
    for case_id in extra[:2]:
        advance_to(clinic, case_id, "follow_up")
    take_checkpoint(clinic.credentials("auditor"), utcnow, clinic.db)
    assert by_workers(clinic, full=True) == []

    # One entry rewritten without its hash; a checkpointed case deleted whole.
    body = (
        clinic.db.engine.connect()
        .exec_driver_sql("SELECT body FROM entries WHERE case_id = 1 AND seq = 2")
        .scalar_one()
    )
    rewrite(clinic, 1, 2, body.replace('"left"', '"right"', 1) + " ", rehash=False)
    for table in ("due_visits", "case_materials", "entries"):
        sql(clinic, f"DELETE FROM {table} WHERE case_id = :c", c=extra[0])
    sql(clinic, "DELETE FROM cases WHERE id = :c", c=extra[0])

    alone = verify(clinic.db, workers=1, full=True)
    assert alone == by_workers(clinic, full=True)
    found = [(p.case_id, p.seq, p.what) for p in alone]
    assert (1, 2, "hash does not match the entry's content (altered)") in found
    assert (extra[0], 8, "entries the checkpoint covers are gone (deleted)") in found
