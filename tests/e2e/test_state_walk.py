"""Every (state, trigger) pair through the real command line: legal pairs move the case to the
SPEC's state, illegal ones exit 4 with one `error:` line and write nothing."""

from __future__ import annotations

import json
import uuid

import pytest

from bmac_workflow import states
from tests.conftest import COLLECTION, Bmac, Clinic, advance_to
from tests.unit.test_states import legal_destination


def command_for(trigger: str, case_id: int) -> tuple[list[str], str]:
    """The CLI invocation of a trigger with valid data, and who may run it."""
    c = str(case_id)
    return {
        "assess": (
            [
                "case",
                "assess",
                c,
                "--kl",
                "3",
                "--icrs",
                "4",
                "--imaging",
                "xray,mri",
                "--vas",
                "6",
            ],
            "surgeon",
        ),
        "collect": (
            [
                "step",
                "collection",
                c,
                *COLLECTION,
                "--specimen-id",
                f"SP-{uuid.uuid4().hex[:8]}",
            ],
            "nurse",
        ),
        "filter": (["step", "filtering", c, "--filter-lot", "F-1", "--filtered-ml", "55"], "nurse"),
        "centrifuge": (
            [
                "step",
                "centrifugation",
                c,
                "--device",
                "CF-1",
                "--g-force",
                "1500",
                "--minutes",
                "10",
            ],
            "nurse",
        ),
        "remove_plasma": (["step", "plasma-removal", c, "--plasma-removed-ml", "45"], "nurse"),
        "concentrate": (["step", "concentration", c, "--concentrate-ml", "6"], "nurse"),
        "inject": (
            [
                "step",
                "injection",
                c,
                "--knee",
                "left",
                "--injected-ml",
                "5",
                "--guidance",
                "ultrasound",
                "--specimen-id",
                f"SP-{case_id}",
                "--verifier",
                "nurse2",
            ],
            "surgeon",
        ),
        "record_follow_up": (["followup", "record", c, "--visit", "1w", "--vas", "3"], "nurse"),
        "close": (["case", "close", c, "--reason", "lost to follow-up"], "surgeon"),
        "cancel": (["case", "cancel", c, "--reason", "patient withdrew"], "surgeon"),
    }[trigger]


def case_in(clinic: Clinic, state: str) -> int:
    """A new case brought to `state` through the services."""
    case_id = clinic.open()
    if state == states.INELIGIBLE:
        clinic.fire(
            case_id,
            "assess",
            {
                "kl_grade": 4,
                "icrs_grade": 4,
                "imaging": ["xray"],
                "leg_deformity": False,
                "baseline_vas": 8,
            },
            "surgeon",
        )
    elif state == states.CANCELLED:
        clinic.fire(case_id, "cancel", who="surgeon", reason="scheduling")
    elif state == states.CLOSED:
        advance_to(clinic, case_id, states.FOLLOW_UP)
        clinic.fire(case_id, "close", who="surgeon", reason="lost to follow-up")
    else:
        advance_to(clinic, case_id, state)
    return case_id


@pytest.mark.parametrize("state", states.STATES)
def test_every_trigger_in_this_state_moves_or_is_refused_as_the_spec_says(
    clinic: Clinic, bmac: Bmac, state: str
) -> None:
    for trigger in states.TRIGGERS:
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
