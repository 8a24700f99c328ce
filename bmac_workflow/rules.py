"""Clinical rules of the protocol as pure functions over plain data (docs/clinical-rules.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from . import text_policy
from .errors import InvalidData
from .protocol import MODALITIES, Protocol
from .states import FOLLOW_UP
from .timeutil import from_iso, iso

if TYPE_CHECKING:
    from .record import CaseSnapshot

MODALITY_NAMES = {"xray": "X-ray", "mri": "MRI", "arthroscopy": "arthroscopy"}
REFER_FOR_ARTHROPLASTY = "refer for arthroplasty"

# A Korean resident registration number (PIPA Art. 24-2 forbids processing it without a statutory
# basis, so nothing shaped like one may be stored): text_policy.py matches it however it is
# written. A patient reference is refused on the shape alone; other text when the first six
# digits read as a birth date and the seventh as a sex digit, so that a kit lot such as
# 202311-0000001 still goes through.


@dataclass(frozen=True)
class Assessment:
    """The outcome of an imaging assessment."""

    candidate: bool
    reason: str
    insurance_eligible: bool
    insurance_basis: str


def looks_like_rrn(text: str) -> bool:
    """True when free text holds a resident registration number (YYMMDD-NNNNNNN), in any
    writing (text_policy.holds_rrn)."""
    return text_policy.holds_rrn(text)


def refuse_rrn(value: Any, what: str) -> None:
    """Raise InvalidData when a string (or a list of them) holds a registration number."""
    texts = value if isinstance(value, list | tuple) else [value]
    if any(isinstance(t, str) and looks_like_rrn(t) for t in texts):
        raise InvalidData(
            f"{what} looks like it holds a resident registration number, which may not be "
            "stored: leave it out"
        )


def check_patient_ref(ref: str) -> str:
    """Refuse an empty reference or anything shaped like a resident registration number."""
    ref = ref.strip()
    if not ref:
        raise InvalidData("--patient must be the clinic's pseudonymous patient number")
    if text_policy.shaped_like_rrn(ref):
        raise InvalidData(
            "--patient looks like a resident registration number, which may not be stored: "
            "use the clinic's pseudonymous patient number"
        )
    return text_policy.check(ref, "--patient", text_policy.ID_FIELD)


def assess(
    kl_grade: int, icrs_grade: int, imaging: list[str], leg_deformity: bool, protocol: Protocol
) -> Assessment:
    """Decide candidacy and insurance eligibility from the grades and the imaging used."""
    reasons = []
    if kl_grade == protocol.kl_arthroplasty:
        reasons.append(f"KL {kl_grade} (bone on bone): {REFER_FOR_ARTHROPLASTY}")
    elif kl_grade not in protocol.kl_grades:
        reasons.append(
            f"KL {kl_grade} is outside the candidate grades {_grades(protocol.kl_grades)}"
        )
    if icrs_grade not in protocol.icrs_grades:
        reasons.append(
            f"ICRS {icrs_grade} is outside the candidate grades {_grades(protocol.icrs_grades)}"
        )
    if leg_deformity:
        reasons.append("deformity of the leg bones")
    candidate = not reasons
    reason = (
        f"candidate: KL {kl_grade}, ICRS {icrs_grade}, no leg deformity"
        if candidate
        else "not a candidate: " + "; ".join(reasons)
    )
    eligible, basis = insurance(kl_grade, icrs_grade, imaging, candidate, protocol)
    return Assessment(candidate, reason, eligible, basis)


def assessment_record(
    kl_grade: int,
    icrs_grade: int,
    imaging: list[str],
    leg_deformity: bool,
    override_reason: str | None,
    protocol: Protocol,
) -> dict[str, Any]:
    """What an assessment entry records besides its inputs: decision, reason, insurance, basis.

    A surgeon's override treats a non-candidate on the surgeon's word: the case is marked as
    overridden and is never insurance-eligible. An override of a candidate is an input error.
    """
    outcome = assess(kl_grade, icrs_grade, imaging, leg_deformity, protocol)
    if override_reason and outcome.candidate:
        raise InvalidData(
            "--override-reason is only for a knee that is not a candidate: this one is "
            f"({outcome.reason}); leave the option out"
        )
    return {
        "candidate": outcome.candidate,
        "reason": outcome.reason,
        "insurance_eligible": outcome.insurance_eligible and not override_reason,
        "insurance_basis": (
            "not insurance-eligible: candidacy overridden by a surgeon"
            if override_reason
            else outcome.insurance_basis
        ),
        "overridden": bool(override_reason),
    }


def insurance(
    kl_grade: int, icrs_grade: int, imaging: list[str], candidate: bool, protocol: Protocol
) -> tuple[bool, str]:
    """Actual-loss insurance: KL graded on X-ray and ICRS on MRI or arthroscopy, both in range."""
    if not candidate:
        return False, "not insurance-eligible: not a candidate"
    kl_on = _named(m for m in imaging if m in protocol.kl_modalities)
    icrs_on = _named(m for m in imaging if m in protocol.icrs_modalities)
    missing = []
    if not kl_on:
        missing.append(f"KL must be graded on {_modalities(protocol.kl_modalities)}")
    if not icrs_on:
        missing.append(f"ICRS must be graded on {_modalities(protocol.icrs_modalities)}")
    if missing:
        return False, "not insurance-eligible: " + "; ".join(missing)
    return True, f"KL {kl_grade} on {kl_on}; ICRS {icrs_grade} on {icrs_on}"


def minutes_between(start: datetime, end: datetime) -> float:
    """Minutes from `start` to `end` (negative when `end` is earlier): elapsed time, taken in
    UTC (two times of one zone would otherwise subtract as wall clocks, across a DST change)."""
    if start.tzinfo is not UTC or end.tzinfo is not UTC:
        start, end = start.astimezone(UTC), end.astimezone(UTC)
    return (end - start).total_seconds() / 60.0


def window_minutes_left(harvested_at: datetime, now: datetime, protocol: Protocol) -> float:
    """Minutes left to inject before the harvest-to-injection window closes (negative: passed)."""
    return round(protocol.window_minutes - minutes_between(harvested_at, now), 1)


@dataclass(frozen=True)
class DueVisit:
    """One follow-up visit not yet recorded."""

    visit: str
    due_at: datetime


def pending_visits(injected_at: datetime, recorded: set[str], protocol: Protocol) -> list[DueVisit]:
    """Scheduled visits not yet recorded, earliest first."""
    return sorted(
        (
            DueVisit(name, injected_at + timedelta(days=days))
            for name, days in protocol.visits.items()
            if name not in recorded
        ),
        key=lambda v: v.due_at,
    )


def visits_due(case: CaseSnapshot, protocol: Protocol) -> list[DueVisit]:
    """The visits the `followup due` worklist holds for a case: those not yet recorded while it
    is in follow-up, none once the knee went on to arthroplasty."""
    if case.state != FOLLOW_UP or case.injected_at is None or case.arthroplasty:
        return []
    return pending_visits(from_iso(case.injected_at), set(case.visits), protocol)


class DueRow(NamedTuple):
    """One row of the `followup due` worklist: a visit not yet recorded, with whose it is."""

    case_id: int
    visit: str
    due_at: str
    patient_ref: str
    knee: str


def due_rows(case: CaseSnapshot, protocol: Protocol) -> list[DueRow]:
    """The worklist rows of a case, as the store keeps them and the audit expects them."""
    return [
        DueRow(case.case_id, v.visit, iso(v.due_at), case.patient_ref, case.knee)
        for v in visits_due(case, protocol)
    ]


def days_overdue(due_on: date, today: date) -> int:
    """Whole calendar days a visit due on `due_on` is late by `today` (0 when not yet late)."""
    return max((today - due_on).days, 0)


def follow_up_complete(recorded: set[str], arthroplasty: bool, protocol: Protocol) -> bool:
    """The schedule ends with its final visit, or earlier when the knee went on to arthroplasty."""
    return arthroplasty or protocol.final_visit in recorded


def _named(modalities: Any) -> str:
    """Modalities in a fixed order (X-ray, MRI, arthroscopy), as people write them."""
    chosen = set(modalities)
    return " and ".join(MODALITY_NAMES[m] for m in MODALITIES if m in chosen)


def _grades(grades: frozenset[int]) -> str:
    low, high = min(grades), max(grades)
    if set(range(low, high + 1)) == grades:
        return f"{low}-{high}" if low != high else str(low)
    return ", ".join(str(g) for g in sorted(grades))


def _modalities(names: frozenset[str]) -> str:
    return " or ".join(MODALITY_NAMES[m] for m in MODALITIES if m in names)
