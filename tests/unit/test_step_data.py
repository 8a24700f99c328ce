"""The data each step records: ranges, the volume chain, computed values, error wording."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from bmac_workflow.errors import InvalidData
from bmac_workflow.protocol import load
from bmac_workflow.states import workflow
from bmac_workflow.step_data import validate

PROTOCOL = load(None)

ASSESS = {"kl_grade": 3, "icrs_grade": 4, "imaging": ["xray", "mri"], "baseline_vas": 7}
COLLECT = {
    "side": "left",
    "aspirate_ml": 60,
    "anticoagulant": "heparin",
    "kit_lot": "K-1",
    "specimen_id": "SP-1",
}
CENTRIFUGE = {"device_id": "CF-1", "g_force": 1500, "duration_min": 10, "spins": 2}
INJECT = {
    "knee": "left",
    "injected_ml": 5,
    "guidance": "ultrasound",
    "specimen_id": "SP-1",
    "verifier_id": "nurse2",
}
FOLLOW_UP = {"visit": "1w", "vas": 4}
UP_TO_CONCENTRATE = {"aspirate_ml": 60, "filtered_ml": 55, "plasma_removed_ml": 45}


def check(trigger: str, values: dict[str, Any], previous: dict[str, Any] | None = None) -> Any:
    model = workflow().by_trigger[trigger].model
    assert model is not None
    return validate(model, values, PROTOCOL, previous or {}).record()


def refused(trigger: str, values: dict[str, Any], previous: dict[str, Any] | None = None) -> str:
    with pytest.raises(InvalidData) as error:
        check(trigger, values, previous)
    return error.value.message


@pytest.mark.parametrize(
    ("trigger", "base", "field", "good", "bad", "option"),
    [
        ("assess", ASSESS, "kl_grade", [0, 4], [-1, 5], "--kl"),
        ("assess", ASSESS, "icrs_grade", [0, 4], [-1, 5], "--icrs"),
        ("assess", ASSESS, "baseline_vas", [0, 10], [-0.1, 10.5], "--vas"),
        ("record_follow_up", FOLLOW_UP, "vas", [0, 10], [-1, 11], "--vas"),
        ("record_follow_up", FOLLOW_UP, "koos", [0, 100], [-1, 100.5], "--koos"),
        ("record_follow_up", FOLLOW_UP, "womac", [0, 96], [-1, 97], "--womac"),
        ("collect", COLLECT, "aspirate_ml", [1, 240], [0, 0.5, 241], "--aspirate-ml"),
        ("centrifuge", CENTRIFUGE, "g_force", [100, 5000], [99, 5001], "--g-force"),
        ("centrifuge", CENTRIFUGE, "duration_min", [1, 60], [0, 61], "--minutes"),
        ("centrifuge", CENTRIFUGE, "spins", [1, 3], [0, 4], "--spins"),
    ],
)
def test_values_at_the_ends_of_their_range_pass_and_beyond_are_refused(
    trigger: str,
    base: dict[str, Any],
    field: str,
    good: list[float],
    bad: list[float],
    option: str,
) -> None:
    for value in good:
        assert check(trigger, {**base, field: value})[field] == value
    for value in bad:
        assert refused(trigger, {**base, field: value}).startswith(option)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_not_a_number_and_infinity_are_refused(value: float) -> None:
    assert refused("collect", {**COLLECT, "aspirate_ml": value}).startswith("--aspirate-ml")
    assert refused("record_follow_up", {**FOLLOW_UP, "vas": value}).startswith("--vas")


def test_a_grade_is_a_number_never_a_yes_or_no() -> None:
    assert "not yes/no" in refused("assess", {**ASSESS, "kl_grade": True})


def test_imaging_is_required_known_and_stored_once_in_a_fixed_order() -> None:
    assert check("assess", {**ASSESS, "imaging": ["mri", "xray", "mri"]})["imaging"] == [
        "xray",
        "mri",
    ]
    assert refused("assess", {**ASSESS, "imaging": []}).startswith("--imaging")
    assert "got 'ct'" in refused("assess", {**ASSESS, "imaging": ["ct"]})


def test_the_concentration_factor_can_never_be_typed_in() -> None:
    message = refused("concentrate", {"concentrate_ml": 6, "concentration_factor": 10})
    assert message.startswith("--concentration-factor")


def test_centrifugation_takes_exactly_one_of_force_or_speed() -> None:
    assert "exactly one" in refused("centrifuge", {**CENTRIFUGE, "rpm": 3000})
    no_force = {k: v for k, v in CENTRIFUGE.items() if k != "g_force"}
    assert "exactly one" in refused("centrifuge", no_force)
    assert check("centrifuge", {**no_force, "rpm": 3000})["rpm"] == 3000


@pytest.mark.parametrize(
    ("trigger", "values", "previous", "words"),
    [
        ("filter", {"filter_lot": "F", "filtered_ml": 61}, {"aspirate_ml": 60}, "aspirate"),
        (
            "remove_plasma",
            {"plasma_removed_ml": 55},
            {"aspirate_ml": 60, "filtered_ml": 55},
            "less than the filtered 55",
        ),
        ("concentrate", {"concentrate_ml": 11}, UP_TO_CONCENTRATE, "10 mL left"),
        (
            "inject",
            {**INJECT, "injected_ml": 6.5},
            {**UP_TO_CONCENTRATE, "concentrate_ml": 6},
            "concentrate volume 6",
        ),
    ],
)
def test_a_volume_larger_than_the_one_before_it_is_refused(
    trigger: str, values: dict[str, Any], previous: dict[str, Any], words: str
) -> None:
    message = refused(trigger, values, previous)
    assert words in message


def test_equal_volumes_along_the_chain_are_accepted() -> None:
    assert check("filter", {"filter_lot": "F", "filtered_ml": 60}, {"aspirate_ml": 60})
    assert check("concentrate", {"concentrate_ml": 10}, UP_TO_CONCENTRATE)
    previous = {**UP_TO_CONCENTRATE, "concentrate_ml": 6}
    assert check("inject", {**INJECT, "injected_ml": 6}, previous)


def test_a_visit_outside_the_protocol_schedule_is_refused_but_adhoc_is_always_allowed() -> None:
    assert check("record_follow_up", {**FOLLOW_UP, "visit": "adhoc"})["visit"] == "adhoc"
    assert check("record_follow_up", {**FOLLOW_UP, "visit": "24m"})["visit"] == "24m"
    assert refused("record_follow_up", {**FOLLOW_UP, "visit": "36m"}).startswith("--visit")


def test_adverse_events_are_kept_in_order_and_none_may_be_blank() -> None:
    events = ["effusion", "pain at harvest site"]
    assert (
        check("record_follow_up", {**FOLLOW_UP, "adverse_events": events})["adverse_events"]
        == events
    )
    assert refused("record_follow_up", {**FOLLOW_UP, "adverse_events": ["  "]}).startswith(
        "--adverse-event"
    )


def test_free_text_holding_a_registration_number_is_refused() -> None:
    message = refused("record_follow_up", {**FOLLOW_UP, "adverse_events": ["900101-1234567"]})
    assert "resident registration number" in message
    reason = {**ASSESS, "kl_grade": 4, "override_reason": "see 900101-1234567"}
    assert refused("assess", reason).startswith("--override-reason")


def test_an_unknown_option_value_is_named_in_the_users_words() -> None:
    message = refused("inject", {**INJECT, "guidance": "xray"})
    assert message.startswith("--guidance") and "'xray'" in message


# Each volume is drawn as a share of the one before it, mostly at most 1 so that whole chains
# get accepted, sometimes above 1 or off the physical range so that every refusal is met too.
SHARE = st.floats(min_value=0.02, max_value=1) | st.floats(min_value=0, max_value=1.2)
ODD = st.sampled_from([float("nan"), float("inf"), -1.0, 0.0])


@settings(max_examples=300, deadline=None)
@given(
    aspirate=st.one_of(st.floats(1, 240), st.floats(1, 240), st.floats(0.5, 260), ODD),
    shares=st.tuples(SHARE, SHARE, SHARE, SHARE),
    cell_count=st.none() | st.integers(-10, 2_000_000),
)
def test_every_accepted_chain_of_volumes_is_in_range_and_never_grows(
    aspirate: float, shares: tuple[float, float, float, float], cell_count: int | None
) -> None:
    filtered = aspirate * shares[0]
    plasma = filtered * shares[1]
    concentrate = (filtered - plasma) * shares[2]
    injected = concentrate * shares[3]
    steps: list[tuple[str, dict[str, Any]]] = [
        ("collect", {**COLLECT, "aspirate_ml": aspirate}),
        ("filter", {"filter_lot": "F", "filtered_ml": filtered}),
        ("remove_plasma", {"plasma_removed_ml": plasma}),
        ("concentrate", {"concentrate_ml": concentrate, "cell_count_per_ul": cell_count}),
        ("inject", {**INJECT, "injected_ml": injected}),
    ]
    previous: dict[str, Any] = {}
    for trigger, values in steps:
        try:
            data = check(trigger, values, previous)
        except InvalidData as error:
            assert error.message.startswith("--"), error.message
            event(f"refused at {trigger}")
            return
        previous.update({k: v for k, v in data.items() if k.endswith("_ml")})
    event("whole chain accepted")
    for name in ("aspirate_ml", "filtered_ml", "plasma_removed_ml", "concentrate_ml"):
        low, high = PROTOCOL.range(name)
        assert low <= previous[name] <= high
    low, high = PROTOCOL.range("injected_ml")
    assert low <= previous["injected_ml"] <= high
    assert previous["filtered_ml"] <= previous["aspirate_ml"]
    assert previous["plasma_removed_ml"] < previous["filtered_ml"]
    assert previous["concentrate_ml"] <= previous["filtered_ml"] - previous["plasma_removed_ml"]
    assert previous["injected_ml"] <= previous["concentrate_ml"]
