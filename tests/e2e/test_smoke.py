"""The happy path through the real command line, on every database."""

from __future__ import annotations

import json

from bmac_workflow.states import workflow
from tests.conftest import Bmac, Clinic, advance_to
from tests.e2e.test_state_walk import command_for

# The happy case: assessment to injection, one follow-up visit, then closed (with a reason).
HAPPY = [*(step.trigger for step in workflow().walk), "record_follow_up", "close"]


def test_a_full_case_moves_from_opening_to_closed(bmac: Bmac, clinic: Clinic) -> None:
    opened = bmac("case", "open", "--patient", "P-0042", "--knee", "left", who="nurse")
    assert opened.exit_code == 0, opened.stderr
    case = opened.stdout.strip()
    assert case.isdigit()
    for trigger in HAPPY:
        args, who = command_for(trigger, int(case))
        result = bmac(*args, who=who)
        assert result.exit_code == 0, (args, result.stderr)
    status = json.loads(bmac("case", "status", case, "--json").stdout)
    assert status["state"] == "closed"
    assert status["insurance_eligible"] is True
    timeline = json.loads(bmac("case", "timeline", case, "--json").stdout)
    assert [row["seq"] for row in timeline] == list(range(1, 11))
    assert bmac("audit", "verify").exit_code == 0


def test_list_filters_by_state_and_refuses_an_unknown_state(bmac: Bmac, clinic: Clinic) -> None:
    first, second = clinic.open("P-1"), clinic.open("P-2")
    clinic.fire(second, "cancel", who="surgeon", reason="withdrew")
    rows = json.loads(bmac("case", "list", "--state", "cancelled", "--json").stdout)
    assert [r["case_id"] for r in rows] == [second]
    everything = json.loads(bmac("case", "list", "--json").stdout)
    assert [r["case_id"] for r in everything] == [second, first]
    paged = bmac("case", "list", "--limit", "1")
    assert "1 shown, 1 more" in paged.stderr
    wrong = bmac("case", "list", "--state", "done")
    assert wrong.exit_code == 2 and wrong.stderr.startswith("error: ")


def test_status_text_shows_the_volumes_in_the_order_of_the_chain(
    bmac: Bmac, clinic: Clinic
) -> None:
    case_id = clinic.open()
    advance_to(clinic, case_id, "injection")
    text = bmac("case", "status", str(case_id)).stdout
    assert "volumes mL:  aspirate 60, filtered 55, plasma removed 45, concentrate 6" in text
    assert "window:" in text and "min left to inject" in text
