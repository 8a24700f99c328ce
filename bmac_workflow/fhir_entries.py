"""The parts of a case's FHIR Bundle that each log entry brings: the scores it recorded
(Observations) and who signed it, when and why (one Provenance per entry); and the ids and
references every resource of the bundle shares (fhir.py builds the bundle)."""

from __future__ import annotations

import uuid
from typing import Any

from .record import CaseSnapshot, Entry

FHIR_VERSION = "5.0.0"
NAMESPACE = uuid.UUID("6f1c1b8e-3d3a-5b7e-9a57-6d0f4b2b9a11")
PATIENT_SYSTEM = "urn:bmac-workflow:patient-ref"
CASE_SYSTEM = "urn:bmac-workflow:case"
SPECIMEN_SYSTEM = "urn:bmac-workflow:specimen-id"
OPERATOR_SYSTEM = "urn:bmac-workflow:operator"
ENTRY_SYSTEM = "urn:bmac-workflow:entry-sha256"
SNOMED, LOINC, UCUM = "http://snomed.info/sct", "http://loinc.org", "http://unitsofmeasure.org"


def resource_id(case_id: int, role: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"case/{case_id}/{role}"))


def reference(case_id: int, role: str, display: str | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"reference": f"urn:uuid:{resource_id(case_id, role)}"}
    if display:
        ref["display"] = display
    return ref


def person(operator_id: str, name: str) -> dict[str, Any]:
    # A logical reference: the operators are people of the clinic, not resources of the bundle.
    return {"identifier": {"system": OPERATOR_SYSTEM, "value": operator_id}, "display": name}


def ml(value: float) -> dict[str, Any]:
    return {"value": value, "unit": "mL", "system": UCUM, "code": "mL"}


def plain(text: str) -> dict[str, Any]:
    return {"text": text}


def observations(
    case: CaseSnapshot, entry: Entry, d: dict[str, Any]
) -> list[tuple[str, dict[str, Any]]]:
    # (score, visit, value, label, the field it was recorded in)
    scores: list[tuple[str, str, float, str, str]] = []
    if entry.action == "assess" and d.get("baseline_vas") is not None:
        scores.append(("vas", "baseline", d["baseline_vas"], "VAS pain 0-10", "baseline_vas"))
    elif entry.action == "record_follow_up":
        scores.append(("vas", d["visit"], d["vas"], "VAS pain 0-10", "vas"))
        for name, label in (("koos", "KOOS 0-100"), ("womac", "WOMAC 0-96")):
            if d.get(name) is not None:
                scores.append((name, d["visit"], d[name], label, name))
    result = []
    for name, visit, value, label, field in scores:
        code: dict[str, Any] = plain(label)
        if name == "vas":
            code = {
                "coding": [{"system": LOINC, "code": "38208-5", "display": "Pain severity"}],
                "text": label,
            }
        observation: dict[str, Any] = {
            "resourceType": "Observation",
            # Amended when a correction changed this score (the others stay final).
            "status": "amended" if d.get(field) != entry.data.get(field) else "final",
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": "survey",
                        }
                    ]
                }
            ],
            "code": code,
            "subject": reference(case.case_id, "patient", case.patient_ref),
            "partOf": [reference(case.case_id, "procedure")],
            "effectiveDateTime": entry.at,
            "issued": entry.recorded_at,
            "valueQuantity": {"value": value, "unit": "score", "system": UCUM, "code": "{score}"},
            "note": [{"text": f"visit {visit}"}],
        }
        if name == "vas" and d.get("adverse_events"):
            observation["note"].append(
                {"text": "adverse events: " + "; ".join(d["adverse_events"])}
            )
        result.append((f"observation/{entry.seq}/{name}", observation))
    return result


def targets(
    entry: Entry, d: dict[str, Any], earlier: dict[int, list[str]], processing: dict[str, str]
) -> list[str]:
    """The roles of the resources an entry brought about (what its Provenance is about)."""
    action = entry.action
    if action == "open":
        return ["patient", "procedure"]
    if action == "assess":
        return ["procedure"] + (
            [f"observation/{entry.seq}/vas"] if d.get("baseline_vas") is not None else []
        )
    if action == "collect" or action in processing:
        return ["specimen"]
    if action == "inject":
        return ["procedure", "specimen"]
    if action == "record_follow_up":
        return [
            f"observation/{entry.seq}/{name}"
            for name in ("vas", "koos", "womac")
            if d.get(name) is not None
        ]
    if action == "correct" and entry.corrects is not None:
        return earlier.get(entry.corrects, ["procedure"])
    return ["procedure"]


# ASTM E1762 signature types (the code system FHIR's Signature.type names).
SIGNATURE_TYPES = "urn:iso-astm:E1762-95:2013"
AUTHOR_SIGNATURE, VERIFICATION_SIGNATURE = "1.2.840.10065.1.12.1.1", "1.2.840.10065.1.12.1.5"


def _signatures(entry: Entry) -> list[dict[str, Any]]:
    """The entry's Ed25519 signatures as FHIR Signatures: over the entry's content (record
    format, docs/record-format.md), made at `recorded`, by the signer and the verifier."""
    found = []
    for role, code in (("signer", AUTHOR_SIGNATURE), ("verifier", VERIFICATION_SIGNATURE)):
        signature = (entry.signatures or {}).get(role)
        who = getattr(entry, role)
        if signature is None or who is None:
            continue
        found.append(
            {
                "type": [{"system": SIGNATURE_TYPES, "code": code}],
                "when": entry.recorded_at,
                "who": person(who.id, who.name),
                "targetFormat": "application/json",
                "sigFormat": "application/octet-stream",
                "data": signature,
            }
        )
    return found


def provenance(
    cid: int, entry: Entry, targets: dict[int, list[str]], entry_hash: str | None
) -> dict[str, Any]:
    agents = [
        {
            "type": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                        "code": "author",
                    }
                ]
            },
            "role": [plain(f"{entry.signer.role}: {entry.signer.meaning}")],
            "who": person(entry.signer.id, entry.signer.name),
        }
    ]
    if entry.verifier is not None:
        agents.append(
            {
                "type": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                            "code": "verifier",
                        }
                    ]
                },
                "role": [plain(f"{entry.verifier.role}: {entry.verifier.meaning}")],
                "who": person(entry.verifier.id, entry.verifier.name),
            }
        )
    provenance: dict[str, Any] = {
        "resourceType": "Provenance",
        "target": [reference(cid, role) for role in targets[entry.seq]],
        "patient": reference(cid, "patient"),
        "occurredDateTime": entry.at,
        "recorded": entry.recorded_at,
        "activity": plain(
            f"entry {entry.seq}: {entry.action} ({entry.from_state or '-'} -> {entry.to_state})"
        ),
        "agent": agents,
    }
    signatures = _signatures(entry)
    if signatures:
        provenance["signature"] = signatures
    why = [plain(entry.reason)] if entry.reason else []
    if entry.minutes_late is not None:
        # Late: recorded long after it occurred (occurredDateTime vs recorded), and why.
        provenance["activity"]["text"] += f" [late: {entry.minutes_late:g} min]"
        why.append(plain(f"logged {entry.minutes_late:g} min late: {entry.late_reason}"))
    if why:
        # R5 renamed R4's Provenance.reason to `authorization` (why the activity took place).
        provenance["authorization"] = [{"concept": concept} for concept in why]
    if entry_hash:
        provenance["entity"] = [
            {
                "role": "source",
                "what": {
                    "identifier": {"system": ENTRY_SYSTEM, "value": entry_hash},
                    "display": f"log entry {entry.seq} of case {cid}",
                },
            }
        ]
    return provenance
