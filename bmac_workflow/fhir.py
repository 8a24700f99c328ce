"""A case as a FHIR R5 Bundle (type `collection`): Patient, Procedure, Specimen, Observations,
and one Provenance per log entry.

FHIR R5 because it is what the `fhir.resources` package validates by default (its top-level
models are R5.0.0). Plain dicts out, no FHIR library needed at run time. Ids are UUIDv5 of the
case and the resource's role, so the same record always exports the same bundle.
Codes: only the ones we are sure of (UCUM units, LOINC 38208-5 pain severity, SNOMED CT
119359002 bone marrow specimen, 72696002 knee region); everything else is text.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from .record import CaseSnapshot, Entry, effective_data
from .states import CANCELLED, CLOSED, FOLLOW_UP, IMAGING_ASSESSMENT, INELIGIBLE, workflow

FHIR_VERSION = "5.0.0"
_NAMESPACE = uuid.UUID("6f1c1b8e-3d3a-5b7e-9a57-6d0f4b2b9a11")
PATIENT_SYSTEM = "urn:bmac-workflow:patient-ref"
CASE_SYSTEM = "urn:bmac-workflow:case"
SPECIMEN_SYSTEM = "urn:bmac-workflow:specimen-id"
OPERATOR_SYSTEM = "urn:bmac-workflow:operator"
ENTRY_SYSTEM = "urn:bmac-workflow:entry-sha256"
SNOMED, LOINC, UCUM = "http://snomed.info/sct", "http://loinc.org", "http://unitsofmeasure.org"


def processing_labels() -> dict[str, str]:
    """Trigger -> its FHIR `Specimen.processing` label, for the steps that process the specimen."""
    return {step.trigger: step.fhir for step in workflow().steps if step.fhir}


def procedure_status(case: CaseSnapshot) -> str:
    """FHIR Procedure.status from the case state.

    Before the harvest nothing was done to the patient yet (preparation); from the harvest to
    the injection the procedure is under way (in-progress); once injected it is completed;
    ineligible, or cancelled before the harvest, it was never done (not-done); cancelled after
    the harvest it was begun and stopped (stopped).
    """
    if case.state in (FOLLOW_UP, CLOSED):
        return "completed"
    if case.state == INELIGIBLE:
        return "not-done"
    if case.state == CANCELLED:
        return "stopped" if case.harvested_at else "not-done"
    if case.state == IMAGING_ASSESSMENT:
        return "preparation"
    return "in-progress"


def _id(case_id: int, role: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"case/{case_id}/{role}"))


def _ref(case_id: int, role: str, display: str | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"reference": f"urn:uuid:{_id(case_id, role)}"}
    if display:
        ref["display"] = display
    return ref


def _person(operator_id: str, name: str) -> dict[str, Any]:
    # A logical reference: the operators are people of the clinic, not resources of the bundle.
    return {"identifier": {"system": OPERATOR_SYSTEM, "value": operator_id}, "display": name}


def _ml(value: float) -> dict[str, Any]:
    return {"value": value, "unit": "mL", "system": UCUM, "code": "mL"}


def _text(text: str) -> dict[str, Any]:
    return {"text": text}


def bundle_for_case(
    case: CaseSnapshot, entries: Sequence[Entry], hashes: Sequence[str] | None = None
) -> dict[str, Any]:
    """The FHIR R5 Bundle of one case, from its snapshot and its log entries (oldest first)."""
    data = effective_data(entries)
    cid = case.case_id
    by_action: dict[str, Entry] = {}
    for entry in entries:
        by_action.setdefault(entry.action, entry)
    resources: list[tuple[str, dict[str, Any]]] = [
        ("patient", _patient(case)),
        ("procedure", _procedure(case, by_action, data)),
    ]
    if "collect" in by_action:
        resources.append(("specimen", _specimen(case, entries, data)))
    targets: dict[int, list[str]] = {}
    for entry in entries:
        targets[entry.seq] = _targets(entry, data[entry.seq], targets)
        for role, observation in _observations(case, entry, data[entry.seq]):
            resources.append((role, observation))
    for i, entry in enumerate(entries):
        entry_hash = hashes[i] if hashes else None
        resources.append((f"provenance/{entry.seq}", _provenance(cid, entry, targets, entry_hash)))
    return {
        "resourceType": "Bundle",
        "id": _id(cid, "bundle"),
        "meta": {"lastUpdated": case.updated_at},
        "identifier": {"system": CASE_SYSTEM, "value": str(cid)},
        "type": "collection",
        "timestamp": case.updated_at,
        "entry": [
            {"fullUrl": f"urn:uuid:{_id(cid, role)}", "resource": {**res, "id": _id(cid, role)}}
            for role, res in resources
        ],
    }


def _patient(case: CaseSnapshot) -> dict[str, Any]:
    # Only the clinic's pseudonymous number: no name, birth date or other identifier.
    return {
        "resourceType": "Patient",
        "identifier": [{"system": PATIENT_SYSTEM, "value": case.patient_ref}],
    }


def _procedure(
    case: CaseSnapshot, by_action: dict[str, Entry], data: dict[int, dict[str, Any]]
) -> dict[str, Any]:
    cid = case.case_id
    knee = {"coding": [{"system": SNOMED, "code": "72696002", "display": "Knee region structure"}]}
    procedure: dict[str, Any] = {
        "resourceType": "Procedure",
        "identifier": [{"system": CASE_SYSTEM, "value": str(cid)}],
        "status": procedure_status(case),
        "code": _text("Autologous bone marrow aspirate concentrate (BMAC) injection into the knee"),
        "subject": _ref(cid, "patient", case.patient_ref),
        "bodySite": [{**knee, "text": f"{case.knee} knee"}],
    }
    if case.assessment:
        procedure["reason"] = [{"concept": _text(case.assessment)}]
    inject = by_action.get("inject")
    if inject is not None:
        procedure["occurrenceDateTime"] = inject.at
        procedure["performer"] = [
            {"function": _text("injected"), "actor": _person(inject.signer.id, inject.signer.name)}
        ]
        if inject.verifier is not None:
            procedure["performer"].append(
                {
                    "function": _text("verified specimen identity"),
                    "actor": _person(inject.verifier.id, inject.verifier.name),
                }
            )
        d = data[inject.seq]
        procedure["note"] = [
            {"text": f"injected {d['injected_ml']:g} mL, {d['guidance']} guidance"}
        ]
    if case.state in (CANCELLED, INELIGIBLE) and (case.end_reason or case.assessment):
        procedure["statusReason"] = _text(case.end_reason or case.assessment or "")
    if "collect" in by_action:
        procedure["supportingInfo"] = [_ref(cid, "specimen", case.specimen_id)]
    notes = procedure.setdefault("note", [])
    if case.override_reason:
        notes.append({"text": f"surgeon's override of a non-candidate: {case.override_reason}"})
    if case.insurance_eligible is not None:
        flag = "eligible" if case.insurance_eligible else "not eligible"
        notes.append({"text": f"insurance: {flag} ({case.insurance_basis})"})
    if not notes:
        del procedure["note"]
    return procedure


def _specimen(
    case: CaseSnapshot, entries: Sequence[Entry], data: dict[int, dict[str, Any]]
) -> dict[str, Any]:
    collect = next(e for e in entries if e.action == "collect")
    d = data[collect.seq]
    labels = processing_labels()
    specimen: dict[str, Any] = {
        "resourceType": "Specimen",
        "identifier": [{"system": SPECIMEN_SYSTEM, "value": d["specimen_id"]}],
        # The concentrate is used up by the injection.
        "status": "unavailable" if case.injected_at else "available",
        "type": {
            "coding": [{"system": SNOMED, "code": "119359002", "display": "Bone marrow specimen"}],
            "text": "autologous bone marrow aspirate",
        },
        "subject": _ref(case.case_id, "patient", case.patient_ref),
        "collection": {
            "collector": _person(collect.signer.id, collect.signer.name),
            "collectedDateTime": collect.at,
            "quantity": _ml(d["aspirate_ml"]),
            "method": _text("aspiration"),
            "bodySite": {"concept": _text(f"{d['harvest_site']}, {d['side']}")},
        },
        "note": [
            {
                "text": f"anaesthesia {d['anaesthesia']}; anticoagulant {d['anticoagulant']}; "
                f"kit lot {d['kit_lot']}"
            }
        ],
        "processing": [
            {
                "description": f"{labels[e.action]}: {_describe(data[e.seq])}",
                "method": _text(labels[e.action]),
                "timeDateTime": e.at,
            }
            for e in entries
            if e.action in labels
        ],
    }
    if not specimen["processing"]:
        del specimen["processing"]
    return specimen


def _describe(values: dict[str, Any]) -> str:
    return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in values.items())


def _observations(
    case: CaseSnapshot, entry: Entry, d: dict[str, Any]
) -> list[tuple[str, dict[str, Any]]]:
    scores: list[tuple[str, str, float, str]] = []
    if entry.action == "assess" and d.get("baseline_vas") is not None:
        scores.append(("vas", "baseline", d["baseline_vas"], "VAS pain 0-10"))
    elif entry.action == "record_follow_up":
        scores.append(("vas", d["visit"], d["vas"], "VAS pain 0-10"))
        for name, label in (("koos", "KOOS 0-100"), ("womac", "WOMAC 0-96")):
            if d.get(name) is not None:
                scores.append((name, d["visit"], d[name], label))
    result = []
    for name, visit, value, label in scores:
        code: dict[str, Any] = _text(label)
        if name == "vas":
            code = {
                "coding": [{"system": LOINC, "code": "38208-5", "display": "Pain severity"}],
                "text": label,
            }
        observation: dict[str, Any] = {
            "resourceType": "Observation",
            "status": "amended" if _corrected(entry, d) else "final",
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
            "subject": _ref(case.case_id, "patient", case.patient_ref),
            "partOf": [_ref(case.case_id, "procedure")],
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


def _corrected(entry: Entry, effective: dict[str, Any]) -> bool:
    return effective != entry.data


def _targets(entry: Entry, d: dict[str, Any], earlier: dict[int, list[str]]) -> list[str]:
    """The roles of the resources an entry brought about (what its Provenance is about)."""
    action = entry.action
    if action == "open":
        return ["patient", "procedure"]
    if action == "assess":
        return ["procedure"] + (
            [f"observation/{entry.seq}/vas"] if d.get("baseline_vas") is not None else []
        )
    if action == "collect" or action in processing_labels():
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


def _provenance(
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
            "role": [_text(f"{entry.signer.role}: {entry.signer.meaning}")],
            "who": _person(entry.signer.id, entry.signer.name),
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
                "role": [_text(f"{entry.verifier.role}: {entry.verifier.meaning}")],
                "who": _person(entry.verifier.id, entry.verifier.name),
            }
        )
    provenance: dict[str, Any] = {
        "resourceType": "Provenance",
        "target": [_ref(cid, role) for role in targets[entry.seq]],
        "patient": _ref(cid, "patient"),
        "occurredDateTime": entry.at,
        "recorded": entry.recorded_at,
        "activity": _text(
            f"entry {entry.seq}: {entry.action} ({entry.from_state or '-'} -> {entry.to_state})"
        ),
        "agent": agents,
    }
    if entry.reason:
        # R5 renamed R4's Provenance.reason to `authorization` (why the activity took place).
        provenance["authorization"] = [{"concept": _text(entry.reason)}]
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


def merge(bundles: Sequence[dict[str, Any]], timestamp: str) -> dict[str, Any]:
    """Several cases' bundles as one `collection` Bundle (resource ids never collide: each is
    derived from its case id)."""
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid5(_NAMESPACE, "export/" + ",".join(b["id"] for b in bundles))),
        "type": "collection",
        "timestamp": timestamp,
        "entry": [entry for bundle in bundles for entry in bundle["entry"]],
    }
