"""Corrections: a new entry pointing at the one it corrects, validated by the step model; what
depends on it is re-derived; a change of the case's path is refused. (What status and the
timeline show of a correction: tests/e2e/test_corrections_cli.py.)"""

from __future__ import annotations

import pytest

from bmac_workflow.errors import InvalidData, NotAllowed, NotPermitted
from bmac_workflow.services.corrections import Correction, correct, parse_settings
from bmac_workflow.states import workflow
from bmac_workflow.timeutil import utcnow
from tests.conftest import Clinic, advance_to

# The entry each step of a happy case is logged as: the opening is entry 1.
SEQ = {"open": 1, **{step.trigger: seq for seq, step in enumerate(workflow().walk, start=2)}}


def run(clinic: Clinic, case_id: int, seq: int, who: str = "nurse", **values: object) -> Correction:
    return correct(
        case_id,
        seq,
        {k: str(v) for k, v in values.items()},
        "typed wrong",
        clinic.credentials(who),
        None,
        utcnow,
        clinic.db,
    )


@pytest.fixture
def injected(clinic: Clinic) -> int:
    case_id = clinic.open()
    advance_to(clinic, case_id, "follow_up")
    return case_id


def test_correcting_the_concentrate_re_derives_its_factor_in_the_same_entry(
    clinic: Clinic, injected: int
) -> None:
    done = run(clinic, injected, SEQ["concentrate"], concentrate_ml=5)
    assert done.entries[0].data["changes"] == {"concentrate_ml": 5.0, "concentration_factor": 12.0}
    assert done.case.concentration_factor == 12.0


def test_a_correction_that_breaks_the_volume_chain_is_refused(
    clinic: Clinic, injected: int
) -> None:
    before = clinic.counts()
    with pytest.raises(InvalidData, match="volumes never grow"):
        run(clinic, injected, SEQ["filter"], filtered_ml=5)  # the concentrate was 6 mL
    with pytest.raises(InvalidData, match=r"out of range|more than"):
        run(clinic, injected, SEQ["filter"], filtered_ml=70)  # more than the 60 mL aspirated
    assert clinic.counts() == before


def test_a_grade_correction_that_keeps_the_outcome_is_accepted(
    clinic: Clinic, injected: int
) -> None:
    done = run(clinic, injected, SEQ["assess"], who="surgeon", kl_grade=2)
    assert done.entries[0].data["changes"]["kl_grade"] == 2
    assert "KL 2" in done.entries[0].data["changes"]["reason"]
    assert done.case.assessment is not None and "KL 2" in done.case.assessment


@pytest.mark.parametrize(
    ("seq", "values", "words"),
    [
        (SEQ["assess"], {"kl_grade": "4"}, "assessment's outcome"),
        (SEQ["assess"], {"imaging": "mri"}, "assessment's outcome"),
        (SEQ["open"], {"knee": "right"}, "knee"),
        (SEQ["collect"], {"specimen_id": "SP-OTHER"}, "chain of identity"),
        (SEQ["inject"], {"specimen_id": "SP-OTHER"}, "chain of identity"),
    ],
)
def test_a_correction_that_changes_the_path_is_refused_with_the_way_forward(
    clinic: Clinic, injected: int, seq: int, values: dict[str, str], words: str
) -> None:
    before = clinic.counts()
    with pytest.raises(NotAllowed, match=words) as caught:
        run(clinic, injected, seq, who="surgeon", **values)
    assert caught.value.exit_code == 4
    assert clinic.counts() == before


def test_the_specimen_id_may_be_corrected_before_the_injection(clinic: Clinic) -> None:
    case_id = clinic.open()
    advance_to(clinic, case_id, "filtering")
    done = run(clinic, case_id, SEQ["collect"], specimen_id="SP-RELABEL")
    assert done.case.specimen_id == "SP-RELABEL"


def test_a_nurse_may_not_correct_another_operators_entry(clinic: Clinic, injected: int) -> None:
    with pytest.raises(NotPermitted, match="signed by nurse"):
        run(clinic, injected, SEQ["filter"], who="nurse2", filtered_ml=52)
    assert (
        run(clinic, injected, SEQ["filter"], who="surgeon", filtered_ml=52).case.volumes_ml[
            "filtered_ml"
        ]
        == 52
    )


def test_an_auditor_may_not_correct(clinic: Clinic, injected: int) -> None:
    with pytest.raises(NotPermitted):
        run(clinic, injected, SEQ["filter"], who="auditor", filtered_ml=52)


def test_unknown_computed_and_unchanged_fields_are_input_errors(
    clinic: Clinic, injected: int
) -> None:
    with pytest.raises(InvalidData, match="no field 'colour'"):
        run(clinic, injected, SEQ["filter"], colour="red")
    with pytest.raises(InvalidData, match="computed"):
        run(clinic, injected, SEQ["concentrate"], concentration_factor="3")
    with pytest.raises(InvalidData, match="nothing to correct"):
        run(clinic, injected, SEQ["filter"], filtered_ml=55)
    with pytest.raises(InvalidData, match="no such entry"):
        run(clinic, injected, 99, filtered_ml=52)
    with pytest.raises(InvalidData, match="field=value"):
        parse_settings(["filtered_ml"])


def test_an_override_can_be_reworded_but_not_added_afterwards(
    clinic: Clinic, injected: int
) -> None:
    with pytest.raises(NotAllowed, match="override"):
        run(clinic, injected, SEQ["assess"], who="surgeon", override_reason="on second thought")
    with pytest.raises(NotAllowed, match="override"):
        run(clinic, injected, SEQ["inject"], who="surgeon", override_reason="late")


def test_the_opening_entry_has_nothing_else_to_correct(clinic: Clinic, injected: int) -> None:
    with pytest.raises(InvalidData, match="no correctable fields"):
        run(clinic, injected, SEQ["open"], who="surgeon", protocol_version="x")
    with pytest.raises(NotAllowed, match="incident process"):
        run(clinic, injected, SEQ["open"], who="surgeon", patient_ref="P-0009")


def test_a_correction_that_would_leave_less_than_the_concentrate_drawn_is_refused(
    clinic: Clinic, injected: int
) -> None:
    # 50 mL filtered - 45 mL of plasma removed leaves 5 mL: the 6 mL concentrate recorded
    # after it would no longer hold, as the concentration step itself would have refused.
    before = clinic.counts()
    with pytest.raises(InvalidData) as refused:
        run(clinic, injected, SEQ["filter"], filtered_ml=50)
    assert f"entry {SEQ['concentrate']} (concentrate) would not hold" in refused.value.message
    assert "5 mL left after the plasma removal" in refused.value.message
    assert clinic.counts() == before
