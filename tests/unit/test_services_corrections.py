"""`case correct` through the service, on a fake unit of work: a correction is a new entry that
points at the one it corrects, re-derives what depends on it, and never touches the original."""

from __future__ import annotations

import pytest

from bmac_workflow.errors import BmacError, InvalidData, NotAllowed, NotFound, NotPermitted
from bmac_workflow.record import Meaning
from bmac_workflow.services.verification import verify
from tests.unit.fake_clinic import FakeClinic


@pytest.fixture
def clinic() -> FakeClinic:
    return FakeClinic()


@pytest.fixture
def injected(clinic: FakeClinic) -> int:
    case_id = clinic.open()
    clinic.walk(case_id)
    return case_id


def bodies(clinic: FakeClinic, case_id: int) -> dict[int, str]:
    return {s: b for (c, s), (b, _) in clinic.db.tables.entries.items() if c == case_id}


def test_a_corrected_volume_is_a_new_entry_and_the_original_stays_as_written(
    clinic: FakeClinic, injected: int
) -> None:
    before = bodies(clinic, injected)
    committed = clinic.db.committed_writes()
    done = clinic.correct(injected, 4, filtered_ml=52, reason="misread the scale")
    (entry,) = done.entries
    assert (entry.seq, entry.action, entry.corrects, entry.reason) == (
        9,
        "correct",
        4,
        "misread the scale",
    )
    assert (entry.signer.id, entry.signer.meaning) == ("nurse", Meaning.CORRECTED)
    assert entry.data == {
        "entry": 4,
        "changes": {"filtered_ml": 52.0},
        "previous": {"filtered_ml": 55.0},
    }
    assert {s: b for s, b in bodies(clinic, injected).items() if s <= 8} == before
    assert done.case.volumes_ml["filtered_ml"] == 52 and done.case.state == "follow_up"
    assert clinic.db.committed_writes() == committed + 1
    assert verify(clinic.db) == []


def test_a_correction_of_the_aspirate_re_derives_the_concentration_factor(
    clinic: FakeClinic, injected: int
) -> None:
    done = clinic.correct(injected, 3, aspirate_ml=90)
    assert [(e.seq, e.corrects) for e in done.entries] == [(9, 3), (10, 7)]
    rederived = done.entries[1]
    assert rederived.data["changes"] == {"concentration_factor": 15.0}
    assert rederived.data["previous"] == {"concentration_factor": 10.0}
    assert rederived.reason == "re-derived after the correction of entry 3"
    assert done.case.concentration_factor == 15.0 and done.case.version == 10
    assert verify(clinic.db) == []


def test_a_surgeon_may_correct_a_nurse_s_entry_but_not_the_other_way_round(
    clinic: FakeClinic, injected: int
) -> None:
    clinic.correct(injected, 5, who="surgeon", device_id="CF-03")
    with pytest.raises(NotPermitted) as refused:
        clinic.correct(injected, 2, who="nurse2", baseline_vas=6)
    assert refused.value.message == (
        "entry 2 was signed by surgeon: only they or a surgeon may correct it"
    )
    with pytest.raises(NotPermitted, match="entry 4 was signed by nurse"):
        clinic.correct(injected, 4, who="nurse2", filtered_ml=52)


def test_an_auditor_may_not_correct(clinic: FakeClinic, injected: int) -> None:
    with pytest.raises(NotPermitted, match="an auditor may not correct"):
        clinic.correct(injected, 4, who="auditor", filtered_ml=52)


def test_a_correction_of_a_case_that_does_not_exist_is_3(clinic: FakeClinic) -> None:
    with pytest.raises(NotFound, match="no case 42"):
        clinic.correct(42, 4, filtered_ml=52)


@pytest.mark.parametrize(
    ("seq", "settings", "reason", "error", "words"),
    [
        (4, {"filtered_ml": 52}, "  ", InvalidData, "--reason is required"),
        (4, {"filtered_ml": 5}, "typo", InvalidData, "volumes never grow"),
        (4, {"filtered_ml": 70}, "typo", InvalidData, "more than the aspirate volume 60 mL"),
        (99, {"filtered_ml": 52}, "typo", InvalidData, "case 1 has no such entry"),
        (1, {"knee": "right"}, "typo", NotAllowed, "report the error through the clinic's"),
        (2, {"kl_grade": 4}, "typo", NotAllowed, "would change the assessment's outcome"),
        (3, {"specimen_id": "SP-2"}, "typo", NotAllowed, "chain of identity"),
        (7, {"concentration_factor": 9}, "typo", InvalidData, "is computed"),
    ],
)
def test_a_refused_correction_writes_nothing(
    clinic: FakeClinic,
    injected: int,
    seq: int,
    settings: dict[str, object],
    reason: str,
    error: type[BmacError],
    words: str,
) -> None:
    before = clinic.db.tables.copy()
    who = "surgeon" if seq == 2 else "nurse"
    with pytest.raises(error, match=words):
        clinic.correct(injected, seq, who=who, reason=reason, **settings)
    assert clinic.db.tables == before


def test_a_correction_itself_is_not_corrected_the_original_entry_is(
    clinic: FakeClinic, injected: int
) -> None:
    clinic.correct(injected, 4, filtered_ml=52)
    with pytest.raises(InvalidData, match="entry 9 is itself a correction: correct entry 4 again"):
        clinic.correct(injected, 9, filtered_ml=53)
    assert clinic.correct(injected, 4, filtered_ml=53).case.volumes_ml["filtered_ml"] == 53


def test_a_specimen_label_is_correctable_before_the_injection_unless_another_case_has_it(
    clinic: FakeClinic,
) -> None:
    first, second = clinic.open("P-1"), clinic.open("P-2")
    clinic.walk(first, "filtering")
    clinic.walk(second, "filtering")
    with pytest.raises(
        InvalidData, match=f"specimen ID SP-{first} is already used by another case"
    ):
        clinic.correct(second, 3, specimen_id=f"SP-{first}")
    done = clinic.correct(second, 3, specimen_id="SP-2B")
    assert done.case.specimen_id == "SP-2B"
    assert clinic.db.tables.cases[second].specimen_id == "SP-2B"


def test_a_corrected_follow_up_visit_keeps_the_worklist_as_the_log_says(
    clinic: FakeClinic, injected: int
) -> None:
    clinic.fire(injected, "record_follow_up", {"visit": "1w", "vas": 5}, "nurse")
    due = clinic.db.tables.due_visits[injected]
    done = clinic.correct(injected, 9, vas=4)
    assert done.case.visits == ("1w",)
    assert clinic.db.tables.due_visits[injected] == due
    assert verify(clinic.db) == []
