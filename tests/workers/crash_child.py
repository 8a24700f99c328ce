"""Logs steps in a loop until it is killed: `python -m tests.workers.crash_child URL TAG`.

Walks one case after another from opening to close (the tests' happy walk, every follow-up
visit, then the close), one commit per step, each signed with the operator's real PIN, and
writes a line `CASE SEQ` after each commit returns (one write each, to a report file or
stdout), so that the test knows what had been durably logged when the kill came.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from bmac_workflow.protocol import Protocol, load
from bmac_workflow.services.cases import StepRequest, log_step, open_case
from bmac_workflow.services.signing import Credentials
from bmac_workflow.store.database import Database
from bmac_workflow.timeutil import utcnow
from tests.walk import PINS, happy_steps, step_values


def whole_walk(case_id: int, protocol: Protocol) -> list[tuple[str, str, dict[str, Any]]]:
    """(trigger, who, values) of each step from the assessment to the close."""
    visits = [
        ("record_follow_up", "nurse", {**step_values("record_follow_up", case_id), "visit": v})
        for v in protocol.visits
    ]
    return [*happy_steps(case_id), *visits, ("close", "surgeon", step_values("close", case_id))]


def main(url: str, tag: str, pins: dict[str, str], report: str | None = None) -> None:
    """Log steps until killed, signing with `pins`; `report` is the file the committed
    (case, seq) lines go to."""
    out = os.open(report, os.O_WRONLY | os.O_APPEND | os.O_CREAT) if report else 1

    def done(case_id: int, seq: int) -> None:
        os.write(out, f"{case_id} {seq}\n".encode())

    db = Database.open(url)
    protocol = load(None)
    signer = {who: Credentials(who, lambda pin=pin: pin) for who, pin in pins.items()}
    n = 0
    while True:
        n += 1
        change = open_case(f"P-{tag}-{n}", "left", protocol, signer["nurse"], None, utcnow, db)
        case_id = change.case.case_id
        done(case_id, 1)
        for trigger, who, values in whole_walk(case_id, protocol):
            reason = "follow-up complete" if trigger == "close" else None
            change = log_step(
                StepRequest(case_id, trigger, values, reason=reason),
                signer[who],
                utcnow,
                db,
                signer[values["verifier_id"]] if "verifier_id" in values else None,
            )
            done(case_id, change.entry.seq)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], PINS)
