"""The guards of the workflow: named conditions on the machine and the error each refusal gives.

A guard decides on a `Request`: the facts of one attempted step, computed from the case and the
step's data beforehand (facts.py), so that a guard is a pure function of plain values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from .errors import BmacError, InvalidData, NotAllowed, NotPermitted
from .roles import SURGEON, allowed_roles, role_refusal

if TYPE_CHECKING:
    from transitions import EventData


class Request(NamedTuple):
    """What the operator asks for, reduced to the facts the guards decide on (a named tuple:
    the audit builds one for every entry it re-runs)."""

    role: str
    candidate: bool = True
    override_reason: str | None = None
    specimen_matches: bool = True
    knee_matches: bool = True
    verifier_is_second_person: bool = True
    minutes_since_harvest: float | None = None
    window_limit_min: float | None = None
    visit_already_recorded: bool = False
    follow_up_complete: bool = False
    close_reason: str | None = None
    # The quality gates (gates.py): a held lot the case used or names, what keeps a device it
    # names from use, and the case's deviations still open.
    held_lot: str | None = None
    device_problem: str | None = None
    open_deviations: tuple[str, ...] = ()


@dataclass(frozen=True)
class Guard:
    """A named condition of the machine and the error it gives when it refuses."""

    name: str
    holds: Callable[[Request], bool]
    refusal: Callable[[Request], BmacError]

    def __call__(self, event: EventData) -> bool:
        return self.holds(event.kwargs["request"])


def role_guard(trigger: str, roles: frozenset[str]) -> Guard:
    """The condition, on every transition of `trigger`, that the signer's role may fire it."""
    return Guard(
        f"role may {trigger}",
        lambda r: r.role in roles,
        lambda r: role_refusal(trigger, r.role),
    )


def _window_refusal(r: Request) -> BmacError:
    return NotPermitted(
        f"harvest-to-injection window passed: {r.minutes_since_harvest:.0f} min since the harvest, "
        f"the protocol allows {r.window_limit_min:.0f} min; a surgeon may inject with "
        "--override-reason TEXT"
    )


def _second_person_refusal(r: Request) -> BmacError:
    return NotPermitted(
        "the verifier (--verifier ID) must be a second operator, not the one who injects: an "
        f"active {' or '.join(allowed_roles('verify_injection'))} who enters their own PIN"
    )


CANDIDATE_OR_OVERRIDE = Guard(
    "candidate or overridden",
    lambda r: r.candidate or bool(r.override_reason),
    lambda r: NotAllowed("the knee is not a candidate"),
)
SPECIMEN_MATCHES = Guard(
    "specimen identity",
    lambda r: r.specimen_matches,
    lambda r: InvalidData(
        "specimen ID scanned at injection does not match the one collected: "
        "check the syringe label; do not inject"
    ),
)
KNEE_MATCHES = Guard(
    "knee identity",
    lambda r: r.knee_matches,
    lambda r: InvalidData(
        "the knee given at injection is not the case's knee: check the case and the patient"
    ),
)
SECOND_PERSON = Guard(
    "second-person verification",
    lambda r: r.verifier_is_second_person,
    _second_person_refusal,
)
WITHIN_WINDOW = Guard(
    "harvest-to-injection window",
    lambda r: (
        r.minutes_since_harvest is None
        or r.window_limit_min is None
        or r.minutes_since_harvest <= r.window_limit_min
        or (bool(r.override_reason) and r.role == SURGEON)
    ),
    _window_refusal,
)
VISIT_NOT_RECORDED = Guard(
    "visit recorded once",
    lambda r: not r.visit_already_recorded,
    lambda r: NotAllowed(
        "this follow-up visit is already recorded: correct it with `bmac case correct`, "
        "or record an extra visit with --visit adhoc"
    ),
)
FOLLOW_UP_DONE = Guard(
    "follow-up finished",
    lambda r: r.follow_up_complete or bool(r.close_reason),
    lambda r: NotAllowed(
        "follow-up is not finished (the 24-month visit is not recorded and there was no "
        "arthroplasty): record the visits, or close early with --reason TEXT"
    ),
)
LOT_NOT_HELD = Guard(
    "lot not held",
    lambda r: r.held_lot is None,
    lambda r: NotPermitted(
        f"{r.held_lot}: no step of a case that used it, and none that names it, until it is "
        "released (`bmac lot release LOT --reason TEXT`, qa or surgeon)"
    ),
)


def _device_refusal(r: Request) -> BmacError:
    if r.override_reason and r.role != SURGEON:
        return NotPermitted(f"{r.device_problem}; only a surgeon may override it")
    return NotPermitted(f"{r.device_problem}; a surgeon may go on with --override-reason TEXT")


DEVICE_READY = Guard(
    "device ready",
    lambda r: r.device_problem is None or (bool(r.override_reason) and r.role == SURGEON),
    _device_refusal,
)
NO_OPEN_DEVIATION = Guard(
    "no open deviation",
    lambda r: not r.open_deviations,
    lambda r: NotAllowed(
        f"the case has open deviations ({', '.join(r.open_deviations)}): qa or a surgeon who did "
        "not make the override closes each with `bmac deviation close N --root-cause TEXT "
        "--action TEXT`"
    ),
)
