"""The workflow table, with no database."""

from __future__ import annotations

import pytest

from bmac_workflow import states
from bmac_workflow.errors import NotAllowed, NotPermitted
from bmac_workflow.states import Request

FORWARD = [
    ("assess", states.IMAGING_ASSESSMENT, states.MARROW_COLLECTION),
    ("collect", states.MARROW_COLLECTION, states.FILTERING),
    ("filter", states.FILTERING, states.CENTRIFUGATION),
    ("centrifuge", states.CENTRIFUGATION, states.PLASMA_REMOVAL),
    ("remove_plasma", states.PLASMA_REMOVAL, states.CONCENTRATION),
    ("concentrate", states.CONCENTRATION, states.INJECTION),
    ("inject", states.INJECTION, states.FOLLOW_UP),
    ("record_follow_up", states.FOLLOW_UP, states.FOLLOW_UP),
    ("close", states.FOLLOW_UP, states.CLOSED),
]


def legal_destination(state: str, trigger: str) -> str | None:
    """The SPEC's table, written out independently of states.py."""
    if trigger == "cancel":
        return states.CANCELLED if state in states.BEFORE_FOLLOW_UP else None
    for name, source, dest in FORWARD:
        if (name, source) == (trigger, state):
            return dest
    return None


def test_there_are_eleven_states_with_the_spec_names() -> None:
    assert states.STATES == [
        "imaging_assessment",
        "marrow_collection",
        "filtering",
        "centrifugation",
        "plasma_removal",
        "concentration",
        "injection",
        "follow_up",
        "closed",
        "ineligible",
        "cancelled",
    ]


@pytest.mark.parametrize("state", states.STATES)
@pytest.mark.parametrize("trigger", states.TRIGGERS)
def test_every_pair_either_moves_as_the_spec_says_or_is_refused_naming_the_way_forward(
    state: str, trigger: str
) -> None:
    request = Request(role="surgeon", follow_up_complete=True)
    expected = legal_destination(state, trigger)
    if expected is None:
        with pytest.raises(NotAllowed) as refused:
            states.advance(state, trigger, request)
        assert state in refused.value.message
    else:
        assert states.advance(state, trigger, request) == expected


def test_a_non_candidate_goes_to_ineligible_and_an_override_to_collection() -> None:
    assert (
        states.advance("imaging_assessment", "assess", Request(role="surgeon", candidate=False))
        == "ineligible"
    )
    assert (
        states.advance(
            "imaging_assessment",
            "assess",
            Request(role="surgeon", candidate=False, override_reason="young, active"),
        )
        == "marrow_collection"
    )


def test_the_role_is_checked_before_the_state() -> None:
    with pytest.raises(NotPermitted):
        states.advance("follow_up", "assess", Request(role="nurse"))


def test_an_auditor_may_fire_no_trigger_at_all() -> None:
    for trigger in states.TRIGGERS:
        assert "auditor" not in states.PERMISSIONS[trigger]


def test_the_window_refusal_names_the_override_option() -> None:
    late = Request(role="surgeon", minutes_since_harvest=121, window_limit_min=120)
    with pytest.raises(NotPermitted, match="--override-reason"):
        states.advance("injection", "inject", late)


def test_the_machine_keeps_no_model_attached_after_firing() -> None:
    states.advance("filtering", "filter", Request(role="nurse"))
    with pytest.raises(NotAllowed):
        states.advance("filtering", "inject", Request(role="surgeon"))
    assert states.machine().models == []


@pytest.mark.parametrize("state", states.STATES)
def test_the_triggers_read_from_the_table_are_those_the_machine_declares(state: str) -> None:
    # triggers_from reads the table so that a status needs no machine: it must not drift.
    declared = [t for t in states.TRIGGERS if states.machine().get_transitions(t, state)]
    assert states.triggers_from(state) == declared


def test_next_step_is_the_forward_trigger_and_none_when_finished() -> None:
    assert states.next_step("imaging_assessment") == "assess"
    assert states.next_step("follow_up") == "record_follow_up"
    for terminal in states.TERMINAL:
        assert states.next_step(terminal) is None
