"""A case's deviations as FHIR R5 DetectedIssue resources: what was overridden or logged late
(code), by whom and when (author, identifiedDateTime), why (detail), and, once closed, the
corrective action with its root cause, who closed it and when (mitigation)."""

from __future__ import annotations

from typing import Any

from .deviations import Deviation
from .fhir_entries import OPERATOR_SYSTEM, reference

DEVIATION_SYSTEM = "urn:bmac-workflow:deviation"


def detected_issue(case_id: int, deviation: Deviation) -> dict[str, Any]:
    """One deviation of the case (a closed one is `final` with its mitigation)."""
    found: dict[str, Any] = {
        "resourceType": "DetectedIssue",
        "status": "preliminary" if deviation.open else "final",
        "code": {
            "coding": [{"system": DEVIATION_SYSTEM, "code": deviation.kind}],
            "text": f"deviation: {deviation.kind} (entry {deviation.seq})",
        },
        "severity": "moderate",
        "subject": reference(case_id, "patient"),
        "identifiedDateTime": deviation.opened_at,
        "author": {"identifier": {"system": OPERATOR_SYSTEM, "value": deviation.opened_by}},
        "implicated": [reference(case_id, "procedure")],
        "detail": deviation.why or deviation.kind,
    }
    if not deviation.open:
        found["mitigation"] = [
            {
                "action": {"text": deviation.corrective_action or "closed"},
                "date": deviation.closed_at,
                "author": {
                    "identifier": {"system": OPERATOR_SYSTEM, "value": deviation.closed_by or ""}
                },
                "note": [{"text": f"root cause: {deviation.root_cause or '-'}"}],
            }
        ]
    return found
