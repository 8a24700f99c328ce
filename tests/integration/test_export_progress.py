"""The export reports its progress entry by entry, so a long export can show a bar."""

from __future__ import annotations

import io

from bmac_workflow.services.export import entry_count, write_csv, write_json
from bmac_workflow.timeutil import utcnow
from tests.conftest import Clinic, advance_to


def test_every_exported_entry_advances_the_progress_once(clinic: Clinic) -> None:
    first, second = clinic.open("P-1"), clinic.open("P-2")
    advance_to(clinic, first, "follow_up")
    total, one_case = entry_count(None, clinic.db), entry_count(first, clinic.db)
    assert (total, one_case) == (clinic.count("entries"), 8) and second
    ticks: list[int] = []
    written = write_json(io.StringIO(), clinic.db, None, None, utcnow(), ticks.append)
    assert written == total == sum(ticks)
    ticks.clear()
    write_csv(io.StringIO(), clinic.db, first, None, ticks.append)
    assert sum(ticks) == one_case
