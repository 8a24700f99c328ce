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

from . import deviations, fhir_entries
from .fhir_deviations import detected_issue
from .fhir_entries import (
    CASE_SYSTEM,
    NAMESPACE,
    PATIENT_SYSTEM,
    SNOMED,
    SPECIMEN_SYSTEM,
    ml,
    observations,
    person,
    plain,
    provenance,
    reference,
    resource_id,
)
from .record import CaseSnapshot, Entry, effective_data
from .states import CANCELLED, CLOSED, FOLLOW_UP, IMAGING_ASSESSMENT, INELIGIBLE, workflow


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
    labels = processing_labels()
    for entry in entries:
        targets[entry.seq] = fhir_entries.targets(entry, data[entry.seq], targets, labels)
        for role, observation in observations(case, entry, data[entry.seq]):
            resources.append((role, observation))
    for i, entry in enumerate(entries):
        entry_hash = hashes[i] if hashes else None
        resources.append((f"provenance/{entry.seq}", provenance(cid, entry, targets, entry_hash)))
    for deviation in deviations.replay(list(entries)):
        resources.append((f"deviation/{deviation.seq}", detected_issue(cid, deviation)))
    return {
        "resourceType": "Bundle",
        "id": resource_id(cid, "bundle"),
        "meta": {"lastUpdated": case.updated_at},
        "identifier": {"system": CASE_SYSTEM, "value": str(cid)},
        "type": "collection",
        "timestamp": case.updated_at,
        "entry": [
            {
                "fullUrl": f"urn:uuid:{resource_id(cid, role)}",
                "resource": {**res, "id": resource_id(cid, role)},
            }
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
        "code": plain("Autologous bone marrow aspirate concentrate (BMAC) injection into the knee"),
        "subject": reference(cid, "patient", case.patient_ref),
        "bodySite": [{**knee, "text": f"{case.knee} knee"}],
    }
    if case.assessment:
        procedure["reason"] = [{"concept": plain(case.assessment)}]
    inject = by_action.get("inject")
    if inject is not None:
        procedure["occurrenceDateTime"] = inject.at
        procedure["performer"] = [
            {"function": plain("injected"), "actor": person(inject.signer.id, inject.signer.name)}
        ]
        if inject.verifier is not None:
            procedure["performer"].append(
                {
                    "function": plain("verified specimen identity"),
                    "actor": person(inject.verifier.id, inject.verifier.name),
                }
            )
        d = data[inject.seq]
        procedure["note"] = [
            {"text": f"injected {d['injected_ml']:g} mL, {d['guidance']} guidance"}
        ]
    if case.state in (CANCELLED, INELIGIBLE) and (case.end_reason or case.assessment):
        procedure["statusReason"] = plain(case.end_reason or case.assessment or "")
    if "collect" in by_action:
        procedure["supportingInfo"] = [reference(cid, "specimen", case.specimen_id)]
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
        "subject": reference(case.case_id, "patient", case.patient_ref),
        "collection": {
            "collector": person(collect.signer.id, collect.signer.name),
            "collectedDateTime": collect.at,
            "quantity": ml(d["aspirate_ml"]),
            "method": plain("aspiration"),
            "bodySite": {"concept": plain(f"{d['harvest_site']}, {d['side']}")},
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
                "method": plain(labels[e.action]),
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


def merge(bundles: Sequence[dict[str, Any]], timestamp: str) -> dict[str, Any]:
    """Several cases' bundles as one `collection` Bundle (resource ids never collide: each is
    derived from its case id)."""
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid5(NAMESPACE, "export/" + ",".join(b["id"] for b in bundles))),
        "type": "collection",
        "timestamp": timestamp,
        "entry": [entry for bundle in bundles for entry in bundle["entry"]],
    }
