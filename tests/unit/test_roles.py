"""The role matrix and the signature meanings, without a database."""

from __future__ import annotations

import pytest

from bmac_workflow import roles
from bmac_workflow.errors import NotPermitted
from bmac_workflow.guards import Guard, Request
from bmac_workflow.record import Meaning
from bmac_workflow.states import workflow


def permissions() -> dict[str, frozenset[str]]:
    return roles.permissions()


def test_every_trigger_of_the_machine_is_a_row_of_the_role_matrix() -> None:
    assert set(workflow().triggers) <= set(permissions())


def test_every_action_of_the_matrix_names_its_commands() -> None:
    assert all(action.commands for action in roles.matrix())
    assert len({action.name for action in roles.matrix()}) == len(roles.matrix())


def test_every_role_in_the_matrix_is_a_known_role() -> None:
    for allowed in permissions().values():
        assert allowed <= set(roles.ROLES)


def test_the_matrix_says_what_spec_section_5_says() -> None:
    nurse_work = {
        "open",
        "collect",
        "filter",
        "centrifuge",
        "remove_plasma",
        "concentrate",
        "record_follow_up",
    }
    surgeon_only = {"assess", "inject", "cancel", "close"}
    for action, allowed in permissions().items():
        if action in nurse_work:
            assert allowed == {"nurse", "surgeon"}, action
        if action in surgeon_only:
            assert allowed == {"surgeon"}, action
    assert permissions()["read"] == set(roles.ROLES)
    assert permissions()["audit_checkpoint"] == {"auditor"}
    assert permissions()["manage_operators"] == {"admin"}
    assert permissions()["backup"] == {"admin"}
    # Revealing a patient in a trace is a read (by a signed-in reader), not a write.
    writes = set(permissions()) - {"read", "audit_checkpoint", "reveal_patient"}
    assert all("auditor" not in permissions()[a] for a in writes)


def test_every_role_guard_of_the_machine_reads_the_matrix() -> None:
    machine = workflow().machine
    for trigger in workflow().triggers:
        for transition in (t for ts in machine.events[trigger].transitions.values() for t in ts):
            guards = [c.func for c in transition.conditions if isinstance(c.func, Guard)]
            role_guards = [g for g in guards if g.name == f"role may {trigger}"]
            assert len(role_guards) == 1, (trigger, transition.source)
            for role in roles.ROLES:
                holds = role_guards[0].holds(Request(role=role))
                assert holds == (role in permissions()[trigger]), (trigger, role)


def test_a_refused_role_is_told_who_may_and_where_to_look() -> None:
    with pytest.raises(NotPermitted) as info:
        roles.check_permitted("manage_operators", "auditor")
    assert info.value.message.startswith("an auditor may not manage operators: it needs an admin")
    assert "bmac operator roles" in info.value.message


def test_every_step_signs_with_a_meaning_from_part_11() -> None:
    meanings = {step.trigger: step.meaning for step in workflow().steps}
    assert set(meanings.values()) <= set(Meaning.ALL)
    assert set(Meaning.ALL) == {
        "performed",
        "verified",
        "assessed",
        "overridden",
        "corrected",
        "cancelled",
        "reviewed",
        "attempted",
        "approved",
    }
    assert meanings["cancel"] == "cancelled"
    assert meanings["assess"] == "assessed"
    assert Meaning.CORRECTED == "corrected"
