"""The access log as FHIR R5 AuditEvent resources: one per read, who (agent), when (recorded),
through which channel (source), which patients and cases (entity), with the entry's hash."""

from __future__ import annotations

import uuid
from typing import Any

from .access import Access
from .fhir_entries import CASE_SYSTEM, NAMESPACE, PATIENT_SYSTEM

ACCESS_SYSTEM = "urn:bmac-workflow:access-log"
OPERATOR_SYSTEM = "urn:bmac-workflow:operator"
_REST = "http://terminology.hl7.org/CodeSystem/audit-event-type"
_ACTION = "http://hl7.org/fhir/audit-event-action"


def audit_event(entry: Access, entry_hash: str) -> dict[str, Any]:
    """One access entry as an AuditEvent (a patient reference may be a keyed pseudonym)."""
    return {
        "resourceType": "AuditEvent",
        "id": str(uuid.uuid5(NAMESPACE, f"access/{entry.seq}")),
        "category": [{"coding": [{"system": _REST, "code": "rest", "display": "RESTful"}]}],
        "code": {"coding": [{"system": ACCESS_SYSTEM, "code": entry.what}], "text": entry.what},
        "action": "R",
        "recorded": entry.at,
        "outcome": {"code": {"system": _ACTION, "code": "0", "display": "Success"}},
        "agent": [
            {
                "who": {"identifier": {"system": OPERATOR_SYSTEM, "value": entry.operator}},
                "requestor": True,
            }
        ],
        "source": {
            "observer": {"display": f"bmac ({entry.channel})"},
            "type": [{"coding": [{"system": ACCESS_SYSTEM, "code": entry.channel}]}],
        },
        "entity": [
            *(
                {"what": {"identifier": {"system": PATIENT_SYSTEM, "value": ref}}}
                for ref in entry.patients
            ),
            *(
                {"what": {"identifier": {"system": CASE_SYSTEM, "value": str(case)}}}
                for case in entry.cases
            ),
            {
                "what": {"identifier": {"system": ACCESS_SYSTEM, "value": str(entry.seq)}},
                "detail": [{"type": {"text": "sha256"}, "valueString": entry_hash}],
            },
        ],
    }
