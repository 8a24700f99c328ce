"""Logs steps in a loop until it is killed: `python -m tests.workers.crash_child URL TAG`.

Walks one case after another from opening to close, one commit per step, and writes a line
`CASE SEQ` after each commit returns (one write each, to a report file or stdout), so that the
test knows what had been durably logged when the kill came.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from bmac_workflow.protocol import load
from bmac_workflow.services.cases import fire, open_case
from bmac_workflow.store.engine import make_engine
from bmac_workflow.store.unit_of_work import UnitOfWork
from bmac_workflow.timeutil import utcnow

STEPS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "assess",
        "surgeon",
        {"kl_grade": 3, "icrs_grade": 4, "imaging": ["xray", "mri"], "baseline_vas": 7},
    ),
    (
        "collect",
        "nurse",
        {"side": "left", "aspirate_ml": 60, "anticoagulant": "heparin", "kit_lot": "K-1"},
    ),
    ("filter", "nurse", {"filter_lot": "F-1", "filtered_ml": 55}),
    ("centrifuge", "nurse", {"device_id": "CF-1", "g_force": 1500, "duration_min": 10}),
    ("remove_plasma", "nurse", {"plasma_removed_ml": 45}),
    ("concentrate", "nurse", {"concentrate_ml": 6}),
    (
        "inject",
        "surgeon",
        {"knee": "left", "injected_ml": 5, "guidance": "ultrasound", "verifier_id": "nurse2"},
    ),
    *[("record_follow_up", "nurse", {"visit": v, "vas": 3}) for v in ("1w", "1m", "3m", "6m")],
    *[("record_follow_up", "nurse", {"visit": v, "vas": 2}) for v in ("12m", "24m")],
    ("close", "surgeon", {}),
]


def main(url: str, tag: str, report: str | None = None) -> None:
    """Log steps until killed; `report` is the file the committed (case, seq) lines go to."""
    out = os.open(report, os.O_WRONLY | os.O_APPEND | os.O_CREAT) if report else 1

    def done(case_id: int, seq: int) -> None:
        os.write(out, f"{case_id} {seq}\n".encode())

    engine = make_engine(url)
    protocol = load(None)
    with UnitOfWork(engine) as uow:
        ops = {i: uow.repo.operator(i) for i in ("nurse", "nurse2", "surgeon")}
    signer = {k: v for k, v in ops.items() if v is not None}
    n = 0
    while True:
        n += 1
        change = open_case(
            f"P-{tag}-{n}",
            "left",
            protocol,
            signer["nurse"],
            None,
            utcnow(),
            UnitOfWork(engine, True),
        )
        case_id = change.case.case_id
        done(case_id, 1)
        for trigger, who, values in STEPS:
            if "verifier_id" in values or trigger == "collect":
                values = {**values, "specimen_id": f"SP-{tag}-{n}"}
            change = fire(
                case_id,
                trigger,
                values,
                signer[who],
                None,
                utcnow(),
                UnitOfWork(engine, write=True),
                verifier=signer["nurse2"] if trigger == "inject" else None,
                reason="follow-up complete" if trigger == "close" else None,
            )
            done(case_id, change.entry.seq)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
