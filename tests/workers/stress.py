"""A workstation in the stress test: random legal and illegal steps on shared cases."""

from __future__ import annotations

import random
from typing import Any

from bmac_workflow import states
from bmac_workflow.errors import BmacError
from bmac_workflow.people import Operator
from bmac_workflow.record import CaseSnapshot
from bmac_workflow.services.cases import fire
from bmac_workflow.store.engine import make_engine
from bmac_workflow.store.unit_of_work import UnitOfWork
from bmac_workflow.timeutil import utcnow

# What a worker reports for one operation: case, trigger, operator, kind of attempt, exit code
# (0 = logged) and the seq it logged (or the error message).
Outcome = tuple[int, str, str, str, int, Any]

VISITS = ["1w", "1m", "3m", "6m", "12m", "24m", "adhoc"]
DOER = {"assess": "surgeon", "inject": "surgeon", "cancel": "surgeon", "close": "surgeon"}


def good_values(trigger: str, case: CaseSnapshot, rng: random.Random) -> dict[str, Any]:
    """Data that is valid for `trigger` on this case (the step itself may still be illegal)."""
    cid = case.case_id
    return {
        "assess": {
            "kl_grade": rng.choice([2, 3, 3, 3, 4]),
            "icrs_grade": 4,
            "imaging": ["xray", "mri"],
            "leg_deformity": False,
            "baseline_vas": 7,
        },
        "collect": {
            "side": case.knee,
            "aspirate_ml": 60,
            "anticoagulant": "heparin",
            "kit_lot": "K-1",
            "specimen_id": f"SP-{cid}",
        },
        "filter": {"filter_lot": "F-1", "filtered_ml": 55},
        "centrifuge": {"device_id": "CF-1", "g_force": 1500, "duration_min": 10},
        "remove_plasma": {"plasma_removed_ml": 45},
        "concentrate": {"concentrate_ml": 6},
        "inject": {
            "knee": case.knee,
            "injected_ml": 5,
            "guidance": "ultrasound",
            "specimen_id": f"SP-{cid}",
            "verifier_id": "nurse2",
        },
        "record_follow_up": {"visit": rng.choice(VISITS), "vas": rng.randint(0, 10)},
    }.get(trigger, {})


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


def choose(case: CaseSnapshot, rng: random.Random) -> tuple[str, str, str, dict[str, Any]]:
    """(kind, trigger, operator id, values): mostly the next legal step, else a wrong one."""
    forward = [t for t in states.triggers_from(case.state) if t != "cancel"]
    if "close" in forward and rng.random() < 0.9:
        forward.remove("close")  # keep hot cases open in follow-up, where visits pile up
    roll = rng.random()
    if roll < 0.03 and case.state in states.BEFORE_FOLLOW_UP:
        return "legal", "cancel", "surgeon", {}
    if forward and roll < 0.70:
        trigger = rng.choice(forward)
        return (
            "legal",
            trigger,
            DOER.get(trigger, rng.choice(["nurse", "nurse2", "surgeon"])),
            (good_values(trigger, case, rng)),
        )
    if roll < 0.80:
        trigger = rng.choice(states.TRIGGERS)
        return "any", trigger, DOER.get(trigger, "nurse"), good_values(trigger, case, rng)
    if forward and roll < 0.90 and forward[0] in BAD:
        trigger = forward[0]
        values = {**good_values(trigger, case, rng), **BAD[trigger]}
        return "bad_data", trigger, DOER.get(trigger, "nurse"), values
    trigger = forward[0] if forward else "filter"
    return "wrong_role", trigger, "auditor", good_values(trigger, case, rng)


def work(
    url: str, seed: int, case_ids: list[int], ops: int, operators: dict[str, Operator]
) -> list[Outcome]:
    """Run `ops` random operations, half of them on a few hot cases everyone fights over."""
    rng = random.Random(seed)
    engine = make_engine(url)
    hot = case_ids[:8]
    outcomes: list[Outcome] = []
    for _ in range(ops):
        case_id = rng.choice(hot) if rng.random() < 0.5 else rng.choice(case_ids)
        with UnitOfWork(engine) as uow:
            found = uow.repo.get_case(case_id)
        assert found is not None
        case = found[0]
        kind, trigger, who, values = choose(case, rng)
        try:
            change = fire(
                case_id,
                trigger,
                values,
                operators[who],
                None,
                utcnow(),
                UnitOfWork(engine, write=True),
                expected_version=case.version,
                verifier=operators["nurse2"] if trigger == "inject" else None,
                reason="stress" if trigger in ("cancel", "close") else None,
            )
            outcomes.append((case_id, trigger, who, kind, 0, change.entry.seq))
        except BmacError as exc:
            outcomes.append((case_id, trigger, who, kind, exc.exit_code, exc.message))
        except Exception as exc:  # reported to the test, which fails on any exit 1
            outcomes.append((case_id, trigger, who, kind, 1, f"{type(exc).__name__}: {exc}"))
    engine.dispose()
    return outcomes
