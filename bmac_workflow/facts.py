"""What each step adds to its record and the facts its guards decide on, from an attempt.

A step's declaration names its `prepare` function here (steps.py); most steps record only their
typed data (`plain`). Pure: the services and the audit's re-run of the workflow both call these,
so the record and its check cannot drift apart.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from . import rules, text_policy
from .errors import InvalidData
from .guards import Request
from .roles import VERIFY_INJECTION
from .timeutil import from_iso

if TYPE_CHECKING:
    from .gates import Gates
    from .protocol import Protocol
    from .record import CaseSnapshot


class Person(NamedTuple):
    """Who a guard looks at: an operator's id, role and whether they may still sign."""

    id: str
    role: str
    active: bool = True


class Attempt(NamedTuple):
    """One attempted step: the case before it, the typed data, who signs, when and why (named
    tuples: the audit builds them for every entry it re-runs)."""

    case: CaseSnapshot
    protocol: Protocol
    data: Mapping[str, Any]
    signer: Person
    verifier: Person | None
    clinical: datetime
    reason: str | None
    # The lot holds, devices and open deviations in force (None: an entry signed before the
    # quality log existed, which the audit re-runs without them).
    gates: Gates | None = None


Prepared = tuple[dict[str, Any], Request]


def plain(attempt: Attempt) -> Prepared:
    """A step that records its data as typed and is guarded only by the signer's role."""
    return {}, _role_only(attempt.signer.role)


@functools.lru_cache(maxsize=64)
def _role_only(role: str) -> Request:
    # Immutable, and the audit's re-run asks for one for most entries of the record.
    return Request(role=role)


def assessment(attempt: Attempt) -> Prepared:
    """The decision (candidate, insurance and their reasons) recorded with the grades."""
    data = attempt.data
    override = data.get("override_reason")
    decision = rules.assessment_record(
        data["kl_grade"],
        data["icrs_grade"],
        data["imaging"],
        data["leg_deformity"],
        override,
        attempt.protocol,
    )
    request = Request(
        role=attempt.signer.role, candidate=decision["candidate"], override_reason=override
    )
    return decision, request


def injection(attempt: Attempt) -> Prepared:
    """The window, specimen, knee and second-person facts of an injection."""
    case, data, protocol = attempt.case, attempt.data, attempt.protocol
    # The window runs on clinical times (`--at`), not on when the entries were typed in. The
    # guard decides on the exact minutes; the record keeps them to the hundredth.
    exact = rules.minutes_between(from_iso(case.harvested_at or ""), attempt.clinical)
    override = data.get("override_reason")
    added = {
        "minutes_since_harvest": round(exact, 2),
        "window_limit_min": protocol.window_minutes,
        # Decided on the unrounded minutes: 120 min 2 s is past a 120-min window
        # (docs/clinical-rules.md).
        "overridden": bool(override) and exact > protocol.window_minutes,
    }
    verifier = attempt.verifier
    second = (
        verifier is not None
        and verifier.id != attempt.signer.id
        and verifier.active
        and verifier.role in VERIFY_INJECTION.roles
    )
    request = Request(
        role=attempt.signer.role,
        override_reason=override,
        specimen_matches=data["specimen_id"] == case.specimen_id,
        knee_matches=data["knee"] == case.knee,
        verifier_is_second_person=second,
        minutes_since_harvest=exact,
        window_limit_min=protocol.window_minutes,
    )
    return added, request


def follow_up(attempt: Attempt) -> Prepared:
    """A scheduled visit is recorded once; ad hoc visits as often as they happen."""
    visit = attempt.data["visit"]
    recorded = visit != "adhoc" and visit in attempt.case.visits
    return {}, Request(role=attempt.signer.role, visit_already_recorded=recorded)


def _reason(attempt: Attempt, required: str | None) -> str | None:
    reason = attempt.reason
    if reason is not None and not reason.strip():
        raise InvalidData("--reason is empty: say in words why the case ends")
    if reason is None and required:
        raise InvalidData(required)
    if reason is not None:
        text_policy.check(reason, "--reason", text_policy.TEXT_FIELD)
    return reason


def cancellation(attempt: Attempt) -> Prepared:
    """A cancellation says why the case stopped."""
    reason = _reason(attempt, "--reason is required to cancel a case: say why it stopped")
    return {}, Request(role=attempt.signer.role, close_reason=reason)


def closing(attempt: Attempt) -> Prepared:
    """A case closes when its follow-up is complete, or earlier with a reason."""
    reason = _reason(attempt, None)
    case = attempt.case
    complete = rules.follow_up_complete(set(case.visits), case.arthroplasty, attempt.protocol)
    return {}, Request(role=attempt.signer.role, follow_up_complete=complete, close_reason=reason)
