"""`case status` reads through store/lookup.py, without the ORM: it must read what the
repository reads, on every database and in every state a case can be in."""

from __future__ import annotations

import pytest

from bmac_workflow.errors import Conflict
from bmac_workflow.store.lookup import CaseLookup
from bmac_workflow.timeutil import iso, utcnow
from tests.conftest import Clinic, advance_to


def both_ways(clinic: Clinic, case_id: int) -> tuple[object, object]:
    with clinic.uow(write=False) as uow:
        found = uow.repo.get_case(case_id)
        by_repo = None if found is None else (found, uow.repo.protocol(found[1]))
    with CaseLookup(clinic.engine) as lookup:
        found = lookup.case(case_id)
        by_lookup = None if found is None else (found, lookup.protocol(found[1]))
    return by_repo, by_lookup


@pytest.mark.parametrize("state", ["imaging_assessment", "filtering", "follow_up"])
def test_a_case_reads_the_same_through_the_lookup_and_the_repository(
    clinic: Clinic, state: str
) -> None:
    case_id = clinic.open()
    advance_to(clinic, case_id, state)
    by_repo, by_lookup = both_ways(clinic, case_id)
    assert by_repo is not None
    assert by_lookup == by_repo


def test_a_missing_case_and_one_whose_opening_never_finished_are_none_both_ways(
    clinic: Clinic,
) -> None:
    with clinic.uow() as uow:
        protocol_id = uow.repo.protocol_id(clinic.protocol, iso(utcnow()))
        unfinished = uow.repo.reserve_case("P-0009", "left", protocol_id, iso(utcnow()))
        uow.commit()
    assert both_ways(clinic, unfinished) == (None, None)
    assert both_ways(clinic, unfinished + 1) == (None, None)


def test_the_lookup_rolls_back_and_turns_a_busy_database_into_a_conflict(
    clinic: Clinic,
) -> None:
    from sqlalchemy.exc import OperationalError

    with pytest.raises(Conflict, match="stayed busy"), CaseLookup(clinic.engine) as lookup:
        lookup.case(1)
        assert lookup.connection.in_transaction()
        raise OperationalError("SELECT", {}, Exception("database is locked"))
    assert not lookup.connection.in_transaction()
