"""What a signature means: the meanings an operator signs under."""

from __future__ import annotations


class Meaning:
    """What a signature means (21 CFR Part 11 §11.50(a)(3)). An override (of candidacy at
    assessment, of the window at injection) signs as OVERRIDDEN instead of the step's own
    meaning, and the injection's second person as VERIFIED."""

    PERFORMED = "performed"
    VERIFIED = "verified"
    ASSESSED = "assessed"
    OVERRIDDEN = "overridden"
    CORRECTED = "corrected"
    CANCELLED = "cancelled"
    REVIEWED = "reviewed"  # an auditor's checkpoint; a deviation closed
    APPROVED = "approved"  # an admin's act of the registry (an operator, a protocol, a setting)
    ATTEMPTED = "attempted"  # a step the workflow refused, kept in the refusals log
    ALL = (
        PERFORMED,
        VERIFIED,
        ASSESSED,
        OVERRIDDEN,
        CORRECTED,
        CANCELLED,
        REVIEWED,
        APPROVED,
        ATTEMPTED,
    )
