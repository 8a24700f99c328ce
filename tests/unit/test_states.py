"""The workflow table, with no database."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bmac_workflow import roles
from bmac_workflow.errors import InvalidData, NotAllowed, NotPermitted
from bmac_workflow.guards import Request
from bmac_workflow.states import TERMINAL, workflow

# The workflow's table (README, The workflow), written out independently of steps.py and states.py.
STATES = [
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
FORWARD = [
    ("assess", "imaging_assessment", "marrow_collection"),
    ("collect", "marrow_collection", "filtering"),
    ("filter", "filtering", "centrifugation"),
    ("centrifuge", "centrifugation", "plasma_removal"),
    ("remove_plasma", "plasma_removal", "concentration"),
    ("concentrate", "concentration", "injection"),
    ("inject", "injection", "follow_up"),
    ("record_follow_up", "follow_up", "follow_up"),
    ("close", "follow_up", "closed"),
]
TRIGGERS = [*dict.fromkeys(t for t, _, _ in FORWARD), "cancel"]


def legal_destination(state: str, trigger: str) -> str | None:
    if trigger == "cancel":
        return "cancelled" if STATES.index(state) < STATES.index("follow_up") else None
    for name, source, dest in FORWARD:
        if (name, source) == (trigger, state):
            return dest
    return None


def move(state: str, trigger: str, request: Request) -> str:
    """A step's checks in the services' order: the role, the state, then the machine's guards."""
    roles.check_permitted(trigger, request.role)
    workflow().check_allowed(state, trigger)
    return workflow().advance(state, trigger, request)


def test_there_are_eleven_states_with_the_spec_names() -> None:
    assert list(workflow().states) == STATES


def test_the_declared_triggers_are_the_spec_triggers() -> None:
    assert sorted(workflow().triggers) == sorted(TRIGGERS)


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("trigger", TRIGGERS)
def test_every_pair_either_moves_as_the_spec_says_or_is_refused_naming_the_way_forward(
    state: str, trigger: str
) -> None:
    request = Request(role="surgeon", follow_up_complete=True)
    expected = legal_destination(state, trigger)
    if expected is None:
        with pytest.raises(NotAllowed) as refused:
            move(state, trigger, request)
        assert state in refused.value.message
    else:
        assert move(state, trigger, request) == expected


def test_a_non_candidate_goes_to_ineligible_and_an_override_to_collection() -> None:
    not_candidate = Request(role="surgeon", candidate=False)
    assert move("imaging_assessment", "assess", not_candidate) == "ineligible"
    overridden = Request(role="surgeon", candidate=False, override_reason="young, active")
    assert move("imaging_assessment", "assess", overridden) == "marrow_collection"


def test_the_role_is_checked_before_the_state() -> None:
    with pytest.raises(NotPermitted):
        move("follow_up", "assess", Request(role="nurse"))


def test_the_machine_refuses_a_role_even_when_asked_directly() -> None:
    # The role guard is a condition on the machine too, not only a check before it.
    with pytest.raises(NotPermitted):
        workflow().advance("injection", "inject", Request(role="nurse"))


def test_an_auditor_may_fire_no_trigger_at_all() -> None:
    for trigger in workflow().triggers:
        assert "auditor" not in roles.permissions()[trigger]


def test_the_window_refusal_names_the_override_option() -> None:
    late = Request(role="surgeon", minutes_since_harvest=121, window_limit_min=120)
    with pytest.raises(NotPermitted, match="--override-reason"):
        move("injection", "inject", late)


def test_the_machine_keeps_no_model_attached_after_firing() -> None:
    move("filtering", "filter", Request(role="nurse"))
    with pytest.raises(NotAllowed):
        move("filtering", "inject", Request(role="surgeon"))
    assert workflow().machine.models == []


@pytest.mark.parametrize("state", STATES)
def test_the_triggers_read_from_the_table_are_those_the_machine_declares(state: str) -> None:
    # triggers_from reads the declarations so that a status needs no machine: it must not drift.
    machine = workflow().machine
    declared = [t for t in workflow().triggers if machine.get_transitions(t, state)]
    assert list(workflow().triggers_from(state)) == declared


def test_next_step_is_the_forward_trigger_and_none_when_finished() -> None:
    assert workflow().next_step("imaging_assessment") == "assess"
    assert workflow().next_step("follow_up") == "record_follow_up"
    for terminal in TERMINAL:
        assert workflow().next_step(terminal) is None


def test_the_walk_is_the_chain_from_assessment_to_injection() -> None:
    assert [s.trigger for s in workflow().walk] == [t for t, _, _ in FORWARD[:7]]


def test_the_transitions_internals_the_hot_path_relies_on_still_behave() -> None:
    # states.Workflow.advance fires `machine.events[trigger].trigger(model, **kwargs)` without
    # attaching the model (transitions is pinned to a tested range in pyproject.toml). If a new
    # release changes that, this fails before any clinic sees it.
    import transitions
    from transitions.core import Event, EventData

    machine = workflow().machine
    assert isinstance(machine.events["filter"], Event)

    class Token:
        state = "filtering"

    seen: list[object] = []
    token = Token()
    fired = machine.events["filter"].trigger(token, request=Request(role="nurse"))
    assert fired is True and token.state == "centrifugation"
    refused = machine.events["filter"].trigger(Token(), request=Request(role="auditor"))
    assert refused is False
    guard = machine.events["filter"].transitions["filtering"][0].conditions[0].func
    seen.append(guard)
    assert callable(guard) and EventData is not None
    assert transitions.__version__.startswith("0.9.")


@settings(max_examples=400, deadline=None)
@given(
    state=st.sampled_from(STATES),
    trigger=st.sampled_from(TRIGGERS),
    role=st.sampled_from(["nurse", "surgeon", "auditor", "admin"]),
    facts=st.fixed_dictionaries(
        {
            "candidate": st.booleans(),
            "override_reason": st.sampled_from([None, "", "young, active"]),
            "specimen_matches": st.booleans(),
            "knee_matches": st.booleans(),
            "verifier_is_second_person": st.booleans(),
            "minutes_since_harvest": st.one_of(st.none(), st.floats(0, 400)),
            "window_limit_min": st.sampled_from([None, 120.0]),
            "visit_already_recorded": st.booleans(),
            "follow_up_complete": st.booleans(),
            "close_reason": st.sampled_from([None, "moved away"]),
        }
    ),
)
def test_the_audits_decision_is_the_machines_for_every_request(
    state: str, trigger: str, role: str, facts: dict[str, object]
) -> None:
    # The audit re-runs every entry with `decide` (no machine); it must say what firing the
    # machine says: the same state, or an error of the same class and words.
    request = Request(role=role, **facts)  # type: ignore[arg-type]
    decided = workflow().decide(state, trigger, request)
    if trigger not in workflow().triggers_from(state):
        assert isinstance(decided, NotAllowed)
        return
    try:
        fired: object = workflow().advance(state, trigger, request)
    except (NotAllowed, NotPermitted, InvalidData) as exc:
        fired = exc
    if isinstance(fired, str):
        assert decided == fired
    else:
        assert type(decided) is type(fired) and str(decided) == str(fired)
