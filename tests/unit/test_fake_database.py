"""The fake database behaves as the store does where the services rely on it: nothing is kept
unless committed, a taken entry or a moved case is a conflict, and no SQL is involved."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bmac_workflow.errors import Conflict, InvalidData
from bmac_workflow.record import evolve
from tests.fakes import FakeDatabase
from tests.unit.logs import PROTOCOL, happy_log, snapshot


def test_work_that_is_not_committed_is_gone_when_the_unit_of_work_ends() -> None:
    db = FakeDatabase()
    with db.write() as uow:
        uow.repo.protocol_id(PROTOCOL, "2026-11-25T00:00:00Z")
    assert db.tables.protocols == {} and db.committed_writes() == 0


def test_committed_work_is_kept_and_later_uncommitted_work_is_not() -> None:
    db = FakeDatabase()
    with db.write() as uow:
        uow.repo.protocol_id(PROTOCOL, "2026-11-25T00:00:00Z")
        uow.commit()
        uow.repo.reserve_case("P-1", "left", 1, "2026-11-25T00:00:00Z")
    assert list(db.tables.protocols) == [1] and db.tables.cases == {}
    assert db.committed_writes() == 1


def test_work_that_raised_is_rolled_back() -> None:
    db = FakeDatabase()
    with pytest.raises(RuntimeError), db.write() as uow:
        uow.repo.protocol_id(PROTOCOL, "2026-11-25T00:00:00Z")
        raise RuntimeError("boom")
    assert db.tables.protocols == {}


def test_an_entry_appended_twice_and_a_case_saved_from_a_stale_version_are_conflicts() -> None:
    db = FakeDatabase()
    log = happy_log(until="marrow_collection")
    with db.write() as uow:
        case_id = uow.repo.reserve_case("P-0001", "left", 1, log[0].at)
        uow.repo.append(log[0])
        with pytest.raises(Conflict):
            uow.repo.append(log[0])
        first = snapshot(log[:1])
        uow.repo.save_case(first, None)
        with pytest.raises(Conflict):
            uow.repo.save_case(snapshot(log), evolve(first, version=0))
        assert uow.repo.get_case(case_id) == (first, 1)


def test_one_specimen_id_belongs_to_one_case() -> None:
    db = FakeDatabase()
    one, two = snapshot(happy_log(until="filtering")), snapshot(happy_log(2, until="filtering"))
    with db.write() as uow:
        for case in (one, two):
            uow.repo.reserve_case(case.patient_ref, case.knee, 1, case.opened_at)
        uow.repo.save_case(one, None)
        with pytest.raises(InvalidData, match="already used"):
            uow.repo.save_case(evolve(two, specimen_id=one.specimen_id), None)


def test_the_services_run_on_the_fake_without_importing_sqlalchemy() -> None:
    code = (
        "import sys, tests.unit.fake_clinic, bmac_workflow.services.corrections, "
        "bmac_workflow.services.queries; "
        "assert not [m for m in sys.modules if m.startswith('sqlalchemy')]"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])
