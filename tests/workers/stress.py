"""A workstation in the stress test: random legal and illegal steps on shared cases.

Each operation signs in with the operator's real PIN, as `bmac` does once per command.
"""

from __future__ import annotations

import random
from typing import Any

from bmac_workflow.errors import BmacError
from bmac_workflow.record import CaseSnapshot
from bmac_workflow.roles import NURSE
from bmac_workflow.services.cases import StepRequest, log_step
from bmac_workflow.services.signing import Credentials
from bmac_workflow.states import FOLLOW_UP, workflow
from bmac_workflow.store.database import Database
from bmac_workflow.timeutil import utcnow
from tests.walk import signer_of, step_values, use_cheap_pin_hashing

# What a worker reports for one operation: case, trigger, operator, kind of attempt, exit code
# (0 = logged) and the seq it logged (or the error message).
Outcome = tuple[int, str, str, str, int, Any]

VISITS = ["1w", "1m", "3m", "6m", "12m", "24m", "adhoc"]


def good_values(trigger: str, case: CaseSnapshot, rng: random.Random) -> dict[str, Any]:
    """Data that is valid for `trigger` on this case (the step itself may still be illegal):
    the happy values, with a random grade, visit and pain, on the case's own knee."""
    values = step_values(trigger, case.case_id)
    changes: dict[str, Any] = {
        "kl_grade": rng.choice([2, 3, 3, 3, 4]),
        "side": case.knee,
        "knee": case.knee,
        "visit": rng.choice(VISITS),
        "vas": rng.randint(0, 10),
    }
    return {**values, **{k: v for k, v in changes.items() if k in values}}


BAD = {
    "assess": {"kl_grade": 9},
    "collect": {"aspirate_ml": -5},
    "filter": {"filtered_ml": 500},
    "centrifuge": {"g_force": None, "rpm": None},
    "remove_plasma": {"plasma_removed_ml": 400},
    "concentrate": {"concentrate_ml": 0},
    "inject": {"specimen_id": "SP-WRONG"},
    "record_follow_up": {"vas": 11},
}


def doer(trigger: str, rng: random.Random | None = None) -> str:
    """Who takes a step: with `rng`, any clinician who may; else the one the tests' walk uses."""
    step = workflow().by_trigger[trigger]
    if rng is not None and NURSE in step.roles:
        return rng.choice(["nurse", "nurse2", "surgeon"])
    return signer_of(step)


def choose(case: CaseSnapshot, rng: random.Random) -> tuple[str, str, str, dict[str, Any]]:
    """(kind, trigger, operator id, values): mostly the next legal step, else a wrong one."""
    flow = workflow()
    forward = [t for t in flow.triggers_from(case.state) if t != "cancel"]
    if "close" in forward and rng.random() < 0.9:
        forward.remove("close")  # keep hot cases open in follow-up, where visits pile up
    roll = rng.random()
    if roll < 0.03 and case.state in flow.states[: flow.states.index(FOLLOW_UP)]:
        return "legal", "cancel", "surgeon", {}
    if forward and roll < 0.70:
        trigger = rng.choice(forward)
        return "legal", trigger, doer(trigger, rng), good_values(trigger, case, rng)
    if roll < 0.80:
        trigger = rng.choice(flow.triggers)
        return "any", trigger, doer(trigger), good_values(trigger, case, rng)
    if forward and roll < 0.90 and forward[0] in BAD:
        trigger = forward[0]
        values = {**good_values(trigger, case, rng), **BAD[trigger]}
        return "bad_data", trigger, doer(trigger), values
    trigger = forward[0] if forward else "filter"
    return "wrong_role", trigger, "auditor", good_values(trigger, case, rng)


def work(url: str, seed: int, case_ids: list[int], ops: int, pins: dict[str, str]) -> list[Outcome]:
    """Run `ops` random operations, half of them on a few hot cases everyone fights over."""
    use_cheap_pin_hashing()
    rng = random.Random(seed)
    db = Database.open(url)
    signer = {who: Credentials(who, lambda pin=pin: pin) for who, pin in pins.items()}
    hot = case_ids[:8]
    outcomes: list[Outcome] = []
    for _ in range(ops):
        case_id = rng.choice(hot) if rng.random() < 0.5 else rng.choice(case_ids)
        with db.read() as uow:
            found = uow.repo.get_case(case_id)
        assert found is not None
        case = found[0]
        kind, trigger, who, values = choose(case, rng)
        try:
            reason = "stress" if trigger in ("cancel", "close") else None
            change = log_step(
                StepRequest(case_id, trigger, values, reason=reason),
                signer[who],
                utcnow,
                db,
                signer["nurse2"] if trigger == "inject" else None,
            )
            outcomes.append((case_id, trigger, who, kind, 0, change.entry.seq))
        except BmacError as exc:
            outcomes.append((case_id, trigger, who, kind, exc.exit_code, exc.message))
        except Exception as exc:  # reported to the test, which fails on any exit 1
            outcomes.append((case_id, trigger, who, kind, 1, f"{type(exc).__name__}: {exc}"))
    db.dispose()
    return outcomes
