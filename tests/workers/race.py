"""A workstation in the race test: read each case's version, wait for the other, then write."""

from __future__ import annotations

from typing import Any

from bmac_workflow.errors import BmacError
from bmac_workflow.people import Operator
from bmac_workflow.protocol import Protocol
from bmac_workflow.services.cases import fire, open_case
from bmac_workflow.store.engine import make_engine
from bmac_workflow.store.unit_of_work import UnitOfWork
from bmac_workflow.timeutil import utcnow

Outcome = tuple[int, str, int, Any]  # (round, operator id, exit code or 0, seq or message)


def race_steps(
    url: str,
    operator: Operator,
    rounds: list[tuple[int, str, dict[str, Any]]],
    barrier: Any,
    results: Any,
) -> None:
    """For each (case, trigger, values): read the version as the CLI does before the PIN
    prompt, wait at `barrier` until the other workstation has read it too, then fire."""
    engine = make_engine(url)
    for case_id, trigger, values in rounds:
        with UnitOfWork(engine) as uow:
            version = uow.repo.case_version(case_id)
        barrier.wait(timeout=120)
        results.put(
            _outcome(
                case_id,
                operator,
                lambda c=case_id, t=trigger, v=values, e=version: (
                    fire(
                        c,
                        t,
                        v,
                        operator,
                        None,
                        utcnow(),
                        UnitOfWork(engine, write=True),
                        expected_version=e,
                    ).entry.seq
                ),
            )
        )
    engine.dispose()


def race_opens(
    url: str, operator: Operator, protocols: list[Protocol], barrier: Any, results: Any
) -> None:
    """Open one case under each protocol (each new to the database) at the same moment as the
    other workstation."""
    engine = make_engine(url)
    for n, protocol in enumerate(protocols):
        barrier.wait(timeout=120)
        results.put(
            _outcome(
                n,
                operator,
                lambda p=protocol: (
                    open_case(
                        "P-RACE",
                        "left",
                        p,
                        operator,
                        None,
                        utcnow(),
                        UnitOfWork(engine, write=True),
                    ).case.case_id
                ),
            )
        )
    engine.dispose()


def _outcome(key: int, operator: Operator, action: Any) -> Outcome:
    try:
        return (key, operator.id, 0, action())
    except BmacError as exc:
        return (key, operator.id, exc.exit_code, exc.message)
    except Exception as exc:  # reported, so the test shows it instead of hanging
        return (key, operator.id, 1, f"{type(exc).__name__}: {exc}")
