"""Corrections: a new entry pointing at the one it corrects, validated by the step model; the
original stays visible; a change of the case's path is refused."""

from __future__ import annotations

import json

import pytest

from bmac_workflow.errors import InvalidData, NotAllowed, NotPermitted
from bmac_workflow.services.corrections import correct, parse_settings
from bmac_workflow.timeutil import utcnow
from tests.conftest import Bmac, Clinic, advance_to


def run(clinic: Clinic, case_id: int, seq: int, who: str = "nurse", **values: str):  # type: ignore[no-untyped-def]
    return correct(
        case_id,
        seq,
        {k: str(v) for k, v in values.items()},
        "typed wrong",
        clinic.ops[who],
        None,
        utcnow(),
        clinic.uow(),
    )


@pytest.fixture
def injected(clinic: Clinic) -> int:
    case_id = clinic.open()
    advance_to(clinic, case_id, "follow_up")
    return case_id


def status(bmac: Bmac, case_id: int) -> dict:  # type: ignore[type-arg]
    return dict(json.loads(bmac("case", "status", str(case_id), "--json").stdout))


def timeline(bmac: Bmac, case_id: int) -> list[dict]:  # type: ignore[type-arg]
    return list(json.loads(bmac("case", "timeline", str(case_id), "--json").stdout))


def test_a_corrected_volume_shows_in_status_and_keeps_the_original_visible(
    clinic: Clinic, bmac: Bmac, injected: int
) -> None:
    result = bmac(
        "case",
        "correct",
        str(injected),
        "--entry",
        "4",
        "--set",
        "filtered-ml=50",
        "--reason",
        "misread the scale",
        who="nurse",
    )
    assert result.exit_code == 0, result.stderr
    assert "entry 4 corrected in entry 9 (filtered_ml 55.0 -> 50.0)" in result.stdout
    assert status(bmac, injected)["volumes_ml"]["filtered_ml"] == 50
    row = timeline(bmac, injected)[3]
    assert row["data"]["filtered_ml"] == 50
    assert row["original_data"]["filtered_ml"] == 55
    assert row["corrected_by"][0]["operator"] == "nurse"
    assert row["corrected_by"][0]["reason"] == "misread the scale"
    last = timeline(bmac, injected)[-1]
    assert (last["action"], last["corrects"], last["reason"]) == ("correct", 4, "misread the scale")
    assert bmac("audit", "verify").exit_code == 0


def test_correcting_the_aspirate_re_derives_the_concentration_factor(
    clinic: Clinic, bmac: Bmac, injected: int
) -> None:
    done = run(clinic, injected, 3, aspirate_ml=90)
    assert [e.corrects for e in done.entries] == [3, 7]
    assert done.entries[1].data["changes"] == {"concentration_factor": 15.0}
    after = status(bmac, injected)
    assert after["volumes_ml"]["aspirate_ml"] == 90
    assert after["concentration_factor"] == 15.0
    assert bmac("audit", "verify").exit_code == 0


def test_correcting_the_concentrate_re_derives_its_factor_in_the_same_entry(
    clinic: Clinic, injected: int
) -> None:
    done = run(clinic, injected, 7, concentrate_ml=5)
    assert done.entries[0].data["changes"] == {"concentrate_ml": 5.0, "concentration_factor": 12.0}
    assert done.case.concentration_factor == 12.0


def test_a_correction_that_breaks_the_volume_chain_is_refused(
    clinic: Clinic, injected: int
) -> None:
    before = clinic.counts()
    with pytest.raises(InvalidData, match="volumes never grow"):
        run(clinic, injected, 4, filtered_ml=5)  # the concentrate was 6 mL
    with pytest.raises(InvalidData, match=r"out of range|more than"):
        run(clinic, injected, 4, filtered_ml=70)  # more than the 60 mL aspirated
    assert clinic.counts() == before


def test_a_grade_correction_that_keeps_the_outcome_is_accepted(
    clinic: Clinic, injected: int
) -> None:
    done = run(clinic, injected, 2, who="surgeon", kl_grade=2)
    assert done.entries[0].data["changes"]["kl_grade"] == 2
    assert "KL 2" in done.entries[0].data["changes"]["reason"]
    assert done.case.assessment is not None and "KL 2" in done.case.assessment


@pytest.mark.parametrize(
    ("seq", "values", "words"),
    [
        (2, {"kl_grade": "4"}, "assessment's outcome"),
        (2, {"imaging": "mri"}, "assessment's outcome"),
        (1, {"knee": "right"}, "knee"),
        (3, {"specimen_id": "SP-OTHER"}, "chain of identity"),
        (8, {"specimen_id": "SP-OTHER"}, "chain of identity"),
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
    done = run(clinic, case_id, 3, specimen_id="SP-RELABEL")
    assert done.case.specimen_id == "SP-RELABEL"


def test_a_nurse_may_not_correct_another_operators_entry(clinic: Clinic, injected: int) -> None:
    with pytest.raises(NotPermitted, match="signed by nurse"):
        run(clinic, injected, 4, who="nurse2", filtered_ml=50)
    assert (
        run(clinic, injected, 4, who="surgeon", filtered_ml=50).case.volumes_ml["filtered_ml"] == 50
    )


def test_an_auditor_may_not_correct(clinic: Clinic, injected: int) -> None:
    with pytest.raises(NotPermitted):
        run(clinic, injected, 4, who="auditor", filtered_ml=50)


def test_unknown_computed_and_unchanged_fields_are_input_errors(
    clinic: Clinic, injected: int
) -> None:
    with pytest.raises(InvalidData, match="no field 'colour'"):
        run(clinic, injected, 4, colour="red")
    with pytest.raises(InvalidData, match="computed"):
        run(clinic, injected, 7, concentration_factor="3")
    with pytest.raises(InvalidData, match="nothing to correct"):
        run(clinic, injected, 4, filtered_ml=55)
    with pytest.raises(InvalidData, match="no such entry"):
        run(clinic, injected, 99, filtered_ml=50)
    with pytest.raises(InvalidData, match="field=value"):
        parse_settings(["filtered_ml"])


def test_the_cli_refuses_a_path_change_with_exit_4_and_writes_nothing(
    clinic: Clinic, bmac: Bmac, injected: int
) -> None:
    before = clinic.counts()
    result = bmac(
        "case",
        "correct",
        str(injected),
        "--entry",
        "2",
        "--set",
        "kl_grade=4",
        "--reason",
        "x",
        who="surgeon",
    )
    assert result.exit_code == 4
    assert result.stderr.startswith("error: ") and "incident process" in result.stderr
    assert clinic.counts() == before


def test_before_the_injection_the_way_forward_is_a_new_case(clinic: Clinic, bmac: Bmac) -> None:
    case_id = clinic.open()
    advance_to(clinic, case_id, "filtering")
    result = bmac(
        "case",
        "correct",
        str(case_id),
        "--entry",
        "1",
        "--set",
        "knee=right",
        "--reason",
        "x",
        who="surgeon",
    )
    assert result.exit_code == 4
    assert f"bmac case cancel {case_id}" in result.stderr


def test_an_override_can_be_reworded_but_not_added_afterwards(
    clinic: Clinic, injected: int
) -> None:
    with pytest.raises(NotAllowed, match="override"):
        run(clinic, injected, 2, who="surgeon", override_reason="on second thought")
    with pytest.raises(NotAllowed, match="override"):
        run(clinic, injected, 8, who="surgeon", override_reason="late")


def test_the_opening_entry_has_nothing_else_to_correct(clinic: Clinic, injected: int) -> None:
    with pytest.raises(InvalidData, match="no correctable fields"):
        run(clinic, injected, 1, who="surgeon", protocol_version="x")
    with pytest.raises(NotAllowed, match="incident process"):
        run(clinic, injected, 1, who="surgeon", patient_ref="P-0009")


def test_the_timeline_text_shows_the_original_value_and_who_corrected_it(
    clinic: Clinic, bmac: Bmac, injected: int
) -> None:
    run(clinic, injected, 4, filtered_ml=50)
    text = bmac("case", "timeline", str(injected)).stdout
    assert "filtered_ml=50.0" in text
    assert "corrected by Nurse Name in entry 9 (filtered_ml was 55.0): typed wrong" in text


def test_a_malformed_set_option_is_a_usage_error(clinic: Clinic, bmac: Bmac, injected: int) -> None:
    result = bmac(
        "case",
        "correct",
        str(injected),
        "--entry",
        "4",
        "--set",
        "filtered_ml",
        "--reason",
        "x",
        who="nurse",
    )
    assert result.exit_code == 2
    assert "field=value" in result.stderr
