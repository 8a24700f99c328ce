"""What a correction may change, without a database: a correction fixes what was written wrong,
never the case's path; what is computed is computed again; the volume chain still holds."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bmac_workflow.correction_rules import changes_for, later_entries, refuse_path_change
from bmac_workflow.errors import InvalidData, NotAllowed
from bmac_workflow.record import Entry, effective_data
from tests.unit.logs import PROTOCOL, happy_log, step

INJECTED = happy_log()
IN_PROCESSING = happy_log(until="plasma_removal")
VISITED = step(INJECTED, "record_follow_up", {"visit": "1w", "vas": 5, "koos": 61}, "nurse")
OVERRIDDEN = happy_log(assess={"kl_grade": 1, "override_reason": "young athlete"})
CANCEL_INSTEAD = "cancel this case (`bmac case cancel 1 --reason ...`) and open a new one"
PAST_INJECTION = "report the error through the clinic's incident process"


def seq_of(log: list[Entry], action: str) -> int:
    return next(e.seq for e in log if e.action == action)


def refused_path(log: list[Entry], action: str, **settings: str) -> str:
    target = log[seq_of(log, action) - 1]
    with pytest.raises(NotAllowed) as refused:
        refuse_path_change(target, settings, 1, log)
    assert refused.value.exit_code == 4
    return refused.value.message


def changes(log: list[Entry], action: str, **settings: str) -> dict[str, Any]:
    target = log[seq_of(log, action) - 1]
    return changes_for(target, effective_data(log), settings, log, PROTOCOL)


@pytest.mark.parametrize("name", ["knee", "patient_ref"])
def test_the_knee_and_the_patient_cannot_be_corrected_before_the_injection_cancel_instead(
    name: str,
) -> None:
    message = refused_path(IN_PROCESSING, "open", **{name: "right"})
    assert f"correcting {name} of entry 1 would change the case's path" in message
    assert message.endswith(CANCEL_INSTEAD)


def test_the_knee_cannot_be_corrected_after_the_injection_report_an_incident() -> None:
    assert refused_path(INJECTED, "open", knee="right").endswith(PAST_INJECTION)


def test_a_specimen_label_may_be_corrected_until_the_specimen_is_injected() -> None:
    refuse_path_change(IN_PROCESSING[2], {"specimen_id": "SP-1B"}, 1, IN_PROCESSING)
    message = refused_path(INJECTED, "collect", specimen_id="SP-1B")
    assert "the specimen was injected under this ID (chain of identity): it stays" in message


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("knee", "an injection into the other knee is a clinical incident"),
        ("specimen_id", "the scanned specimen ID is the chain of identity"),
        ("verifier_id", "the verifier signed with their own PIN; a signature cannot be corrected"),
    ],
)
def test_the_injection_s_identity_and_signature_cannot_be_corrected(name: str, why: str) -> None:
    assert why in refused_path(INJECTED, "inject", **{name: "other"})


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("visit", "record the right visit with `bmac followup record 1 --visit ...`"),
        ("arthroplasty", "a surgeon closes the case with `bmac case close 1 --reason ...`"),
    ],
)
def test_what_decides_the_follow_up_schedule_cannot_be_corrected(name: str, why: str) -> None:
    assert why in refused_path(VISITED, "record_follow_up", **{name: "true"})


def test_an_override_cannot_be_added_afterwards() -> None:
    message = refused_path(INJECTED, "inject", override_reason="was late")
    assert "it can be reworded, not added or withdrawn afterwards" in message


def test_an_override_cannot_be_withdrawn_but_may_be_reworded() -> None:
    assert "not added or withdrawn" in refused_path(OVERRIDDEN, "assess", override_reason="")
    refuse_path_change(OVERRIDDEN[1], {"override_reason": "elite athlete"}, 1, OVERRIDDEN)
    assert changes(OVERRIDDEN, "assess", override_reason="elite athlete") == {
        "override_reason": "elite athlete"
    }


def test_a_computed_value_is_refused_and_the_message_says_what_to_correct() -> None:
    with pytest.raises(InvalidData, match="concentration_factor is computed: correct the values"):
        changes(INJECTED, "concentrate", concentration_factor="12")


def test_an_unknown_field_is_refused_naming_the_fields_that_can_be_corrected() -> None:
    with pytest.raises(InvalidData) as refused:
        changes(INJECTED, "collect", volume="62")
    assert refused.value.exit_code == 5
    assert refused.value.message == (
        "collect entries have no field 'volume'; correctable: anaesthesia, anticoagulant, "
        "aspirate_ml, harvest_site, kit_lot, side, specimen_id"
    )


def test_an_entry_without_step_data_has_nothing_to_correct() -> None:
    with pytest.raises(InvalidData, match=r"entry 1 \(open\) has no correctable fields"):
        changes(INJECTED, "open", knee="right")


def test_corrected_values_are_typed_as_the_step_records_them() -> None:
    assert changes(INJECTED, "collect", aspirate_ml="62") == {"aspirate_ml": 62.0}
    assert changes(INJECTED, "remove_plasma", rbc_removed="false") == {"rbc_removed": False}
    assert changes(VISITED, "record_follow_up", koos="", adverse_events="swelling, redness") == {
        "koos": None,
        "adverse_events": ["swelling", "redness"],
    }


def test_a_value_that_is_not_a_number_is_refused_in_the_option_s_words() -> None:
    with pytest.raises(InvalidData, match="--plasma-removed-ml: Input should be a valid number"):
        changes(INJECTED, "remove_plasma", plasma_removed_ml="abc")


def test_a_correction_to_the_same_value_is_refused_as_nothing_to_correct() -> None:
    with pytest.raises(InvalidData, match="entry 4 already records these values"):
        changes(INJECTED, "filter", filtered_ml="55")


def test_a_correction_of_the_concentrate_re_derives_the_concentration_factor() -> None:
    assert changes(INJECTED, "concentrate", concentrate_ml="5") == {
        "concentrate_ml": 5.0,
        "concentration_factor": 12.0,
    }


def test_a_correction_of_the_injected_volume_keeps_the_minutes_as_signed() -> None:
    assert changes(INJECTED, "inject", injected_ml="4") == {"injected_ml": 4.0}


def test_a_grade_correction_that_keeps_the_outcome_rewords_the_assessment() -> None:
    assert changes(INJECTED, "assess", kl_grade="2") == {
        "kl_grade": 2,
        "reason": "candidate: KL 2, ICRS 4, no leg deformity",
        "insurance_basis": "KL 2 on X-ray; ICRS 4 on MRI",
    }


@pytest.mark.parametrize(
    ("log", "settings", "outcome"),
    [
        (INJECTED, {"kl_grade": "4"}, "(not a candidate, insurance not eligible)"),
        (INJECTED, {"imaging": "mri"}, "(candidate, insurance not eligible)"),
        (INJECTED, {"leg_deformity": "true"}, "(not a candidate, insurance not eligible)"),
        (OVERRIDDEN, {"kl_grade": "2"}, "(candidate, insurance not eligible)"),
    ],
)
def test_a_correction_that_changes_the_assessment_s_outcome_is_refused(
    log: list[Entry], settings: dict[str, str], outcome: str
) -> None:
    with pytest.raises(NotAllowed) as refused:
        changes(log, "assess", **settings)
    assert f"would change the assessment's outcome {outcome}, which is the case's path" in str(
        refused.value
    )


def test_a_corrected_aspirate_re_derives_the_factor_of_the_concentrate_entry() -> None:
    current = effective_data(INJECTED)
    assert later_entries(INJECTED, current, 3, {"aspirate_ml": 90.0}, PROTOCOL) == [
        (7, {"concentration_factor": 15.0})
    ]


def test_a_correction_that_breaks_a_later_entry_s_volumes_is_refused() -> None:
    current = effective_data(INJECTED)
    with pytest.raises(InvalidData) as refused:
        later_entries(INJECTED, current, 4, {"filtered_ml": 5.0}, PROTOCOL)
    assert refused.value.message.startswith(
        "after this correction entry 6 (remove_plasma) would not hold: "
    )
    assert refused.value.message.endswith(
        "volumes never grow along the chain: correct both entries, the larger first"
    )


def test_the_refusal_of_a_broken_chain_says_volumes_never_grow_once() -> None:
    current = effective_data(INJECTED)
    change = {"concentrate_ml": 4.0, "concentration_factor": 15.0}
    with pytest.raises(InvalidData) as refused:
        later_entries(INJECTED, current, 7, change, PROTOCOL)
    assert refused.value.message.count("volumes never grow") == 1


HUNDREDTHS = st.integers(50, 6000).map(lambda n: n / 100)


@given(HUNDREDTHS)
def test_a_filtered_volume_is_correctable_exactly_while_the_concentrate_still_fits(
    filtered: float,
) -> None:
    """45 mL of plasma were removed and 6 mL concentrate drawn: 51 mL is the least that works."""
    current = effective_data(INJECTED)
    if filtered == 55:
        return
    new = changes(INJECTED, "filter", filtered_ml=str(filtered))
    assert new == {"filtered_ml": filtered}
    if filtered - 45 >= 6:
        assert later_entries(INJECTED, current, 4, new, PROTOCOL) == []
    else:
        with pytest.raises(InvalidData, match="volumes never grow"):
            later_entries(INJECTED, current, 4, new, PROTOCOL)


@given(st.integers(100, 24000).map(lambda n: n / 100))
def test_any_aspirate_at_least_the_filtered_volume_re_derives_the_factor_from_it(
    aspirate: float,
) -> None:
    current = effective_data(INJECTED)
    if aspirate == 60:
        return
    new = changes(INJECTED, "collect", aspirate_ml=str(aspirate))
    if aspirate < 55:
        with pytest.raises(InvalidData, match="volumes never grow"):
            later_entries(INJECTED, current, 3, new, PROTOCOL)
        return
    assert later_entries(INJECTED, current, 3, new, PROTOCOL) == [
        (7, {"concentration_factor": round(aspirate / 6, 2)})
    ]


def test_a_corrected_concentrate_re_derives_nothing_in_other_entries() -> None:
    current = effective_data(INJECTED)
    corrected_concentrate = {"concentrate_ml": 5.0, "concentration_factor": 12.0}
    assert later_entries(INJECTED, current, 7, corrected_concentrate, PROTOCOL) == []
