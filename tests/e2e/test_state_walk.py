"""Every (state, trigger) pair through the real command line: legal pairs move the case to the
workflow's state, illegal ones exit 4 with one `error:` line and write nothing."""

from __future__ import annotations

import json

import pytest

from bmac_workflow.states import CANCELLED, CLOSED, FOLLOW_UP, INELIGIBLE, workflow
from tests.conftest import Bmac, Clinic, advance_to
from tests.unit.test_states import legal_destination
from tests.walk import signer_of, step_args, step_values


def command_for(trigger: str, case_id: int) -> tuple[list[str], str]:
    """The CLI invocation of a trigger with valid data (and its reason, where the step takes
    one), and who may run it."""
    step = workflow().by_trigger[trigger]
    args = step_args(trigger, case_id)
    if step.reason is not None:
        args += ["--reason", step.reason_example]
    return args, signer_of(step)


def case_in(clinic: Clinic, state: str) -> int:
    """A new case brought to `state` through the services."""
    case_id = clinic.open()
    if state == INELIGIBLE:
        not_a_candidate = {**step_values("assess", case_id), "kl_grade": 4}
        clinic.fire(case_id, "assess", not_a_candidate, "surgeon")
    elif state == CANCELLED:
        clinic.fire(case_id, "cancel", who="surgeon", reason="scheduling")
    elif state == CLOSED:
        advance_to(clinic, case_id, FOLLOW_UP)
        clinic.fire(case_id, "close", who="surgeon", reason="lost to follow-up")
    else:
        advance_to(clinic, case_id, state)
    return case_id


@pytest.mark.parametrize("state", workflow().states)
def test_every_trigger_in_this_state_moves_or_is_refused_as_the_spec_says(
    clinic: Clinic, bmac: Bmac, state: str
) -> None:
    for trigger in workflow().triggers:
        case_id = case_in(clinic, state)
        args, who = command_for(trigger, case_id)
        before = clinic.counts()
        result = bmac(*args, who=who)
        expected = legal_destination(state, trigger)
        if expected is None:
            assert result.exit_code == 4, (trigger, result.stdout, result.stderr)
            lines = result.stderr.splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
            assert f"state {state}" in lines[0]
            assert clinic.counts() == before
        else:
            assert result.exit_code == 0, (trigger, result.stderr)
            status = json.loads(bmac("case", "status", str(case_id), "--json").stdout)
            assert status["state"] == expected
            assert clinic.counts()["entries"] == before["entries"] + 1
