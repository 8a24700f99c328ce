"""Clinical rules of the protocol as pure functions over plain data (SPEC §3)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from .errors import InvalidData
from .protocol import Protocol

MODALITY_NAMES = {"xray": "X-ray", "mri": "MRI", "arthroscopy": "arthroscopy"}

# A Korean resident registration number: 6 digits (birth date), dash, 7 digits. PIPA Art. 24-2
# forbids processing it without a statutory basis, so it must never reach the database.
_RRN = re.compile(r"\d{6}\s*-?\s*[1-8]\d{6}")


@dataclass(frozen=True)
class Assessment:
    """The outcome of an imaging assessment."""

    candidate: bool
    reason: str
    insurance_eligible: bool
    insurance_basis: str


def check_patient_ref(ref: str) -> str:
    """Refuse an empty reference or anything shaped like a resident registration number."""
    ref = ref.strip()
    if not ref:
        raise InvalidData("--patient must be the clinic's pseudonymous patient number")
    if _RRN.search(ref):
        raise InvalidData(
            "--patient looks like a resident registration number, which may not be stored: "
            "use the clinic's pseudonymous patient number"
        )
    return ref


def assess(
    kl_grade: int, icrs_grade: int, imaging: list[str], leg_deformity: bool, protocol: Protocol
) -> Assessment:
    """Decide candidacy and insurance eligibility from the grades and the imaging used."""
    reasons = []
    if kl_grade == protocol.kl_arthroplasty:
        reasons.append(f"KL {kl_grade} (bone on bone): refer for arthroplasty")
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


def insurance(
    kl_grade: int, icrs_grade: int, imaging: list[str], candidate: bool, protocol: Protocol
) -> tuple[bool, str]:
    """Actual-loss insurance: KL graded on X-ray and ICRS on MRI or arthroscopy, both in range."""
    kl_on = [m for m in imaging if m in protocol.kl_modalities]
    icrs_on = [m for m in imaging if m in protocol.icrs_modalities]
    if not candidate:
        return False, "not insurance-eligible: not a candidate"
    missing = []
    if not kl_on:
        missing.append(f"KL needs {_modalities(protocol.kl_modalities)}")
    if not icrs_on:
        missing.append(f"ICRS needs {_modalities(protocol.icrs_modalities)}")
    if missing:
        return False, "not insurance-eligible: " + "; ".join(missing)
    return True, (
        f"KL {kl_grade} on {MODALITY_NAMES.get(kl_on[0], kl_on[0])}; "
        f"ICRS {icrs_grade} on {MODALITY_NAMES.get(icrs_on[0], icrs_on[0])}"
    )


def minutes_between(start: datetime, end: datetime) -> float:
    """Minutes from `start` to `end` (negative when `end` is earlier)."""
    return (end - start).total_seconds() / 60.0


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


def follow_up_complete(recorded: set[str], arthroplasty: bool, protocol: Protocol) -> bool:
    """The schedule ends with its final visit, or earlier when the knee went on to arthroplasty."""
    return arthroplasty or protocol.final_visit in recorded


def _grades(grades: frozenset[int]) -> str:
    return "-".join(str(g) for g in (min(grades), max(grades)))


def _modalities(names: frozenset[str]) -> str:
    return " or ".join(MODALITY_NAMES.get(n, n) for n in sorted(names))
