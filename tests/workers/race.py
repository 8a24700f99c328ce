"""A workstation in the race test: read each case, wait for the other, then write.

Each workstation signs in with its operator's real PIN. The PIN is asked after the service has
read the case (as `bmac` reads it before the PIN prompt), so the PIN callback is where the two
workstations meet: both have read the case before either of them writes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bmac_workflow.errors import BmacError
from bmac_workflow.services.cases import StepRequest, log_step, open_case
from bmac_workflow.services.signing import Credentials
from bmac_workflow.store.database import Database
from bmac_workflow.timeutil import utcnow
from tests.walk import use_cheap_pin_hashing

Outcome = tuple[int, str, int, Any]  # (round, operator id, exit code or 0, seq or message)


def meeting(operator_id: str, pin: str, barrier: Any) -> Credentials:
    """`operator_id`'s credentials, whose PIN is typed once the other workstation is there."""

    def typed() -> str:
        barrier.wait(timeout=120)
        return pin

    return Credentials(operator_id, typed)


def race_steps(
    url: str,
    operator_id: str,
    pin: str,
    rounds: list[tuple[int, str, dict[str, Any]]],
    barrier: Any,
    results: Any,
) -> None:
    """For each (case, trigger, values): log the step; the service reads the case's version
    before the PIN, and the PIN waits at `barrier` until the other workstation has read it too."""
    use_cheap_pin_hashing()
    db = Database.open(url)
    signer = meeting(operator_id, pin, barrier)
    for case_id, trigger, values in rounds:
        results.put(
            _outcome(
                case_id,
                operator_id,
                lambda c=case_id, t=trigger, v=values: (
                    log_step(StepRequest(c, t, v), signer, utcnow, db).entry.seq
                ),
            )
        )
    db.dispose()


def race_opens(
    url: str,
    operator_id: str,
    pin: str,
    rounds: int,
    barrier: Any,
    results: Any,
) -> None:
    """Open `rounds` cases under the clinic's active protocol, each at the same moment as the
    other workstation (both type their PIN at once)."""
    use_cheap_pin_hashing()
    db = Database.open(url)
    signer = meeting(operator_id, pin, barrier)
    for n in range(rounds):
        results.put(
            _outcome(
                n,
                operator_id,
                lambda: open_case("P-RACE", "left", None, signer, None, utcnow, db).case.case_id,
            )
        )
    db.dispose()


def _outcome(key: int, operator_id: str, action: Callable[[], Any]) -> Outcome:
    try:
        return (key, operator_id, 0, action())
    except BmacError as exc:
        return (key, operator_id, exc.exit_code, exc.message)
    except Exception as exc:  # reported, so the test shows it instead of hanging
        return (key, operator_id, 1, f"{type(exc).__name__}: {exc}")
