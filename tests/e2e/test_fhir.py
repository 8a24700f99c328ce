"""The FHIR R5 bundle of a case validates with `fhir.resources` and says who, when and why."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fhir.resources import bundle as fhir_bundle

from bmac_workflow.services.export import case_bundle, pseudonym
from tests.conftest import Bmac, Clinic, advance_to


def resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def full_case(clinic: Clinic) -> int:
    case_id = clinic.open("P-0042")
    advance_to(clinic, case_id, "follow_up")
    clinic.fire(case_id, "record_follow_up", {"visit": "1w", "vas": 5, "koos": 58})
    clinic.fire(case_id, "record_follow_up", {"visit": "1m", "vas": 3, "koos": 71})
    clinic.fire(case_id, "close", {}, who="surgeon", reason="lost to follow-up")
    return case_id


def test_the_bundle_of_a_full_case_validates_with_fhir_resources(clinic: Clinic) -> None:
    bundle = case_bundle(full_case(clinic), clinic.db)
    parsed = fhir_bundle.Bundle.model_validate(bundle)
    assert parsed.type == "collection"
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert {"Patient", "Procedure", "Specimen", "Observation", "Provenance"} <= set(kinds)


def test_the_patient_carries_the_pseudonymous_reference_and_nothing_else(clinic: Clinic) -> None:
    bundle = case_bundle(full_case(clinic), clinic.db)
    (patient,) = resources(bundle, "Patient")
    assert set(patient) == {"resourceType", "id", "identifier"}
    assert [i["value"] for i in patient["identifier"]] == ["P-0042"]


def test_every_log_entry_has_a_provenance_with_signer_time_and_reason(clinic: Clinic) -> None:
    case_id = full_case(clinic)
    bundle = case_bundle(case_id, clinic.db)
    provenance = resources(bundle, "Provenance")
    with clinic.uow(write=False) as uow:
        entries = [e for e, _ in uow.repo.entries(case_id)]
    assert len(provenance) == len(entries)
    assert [p["recorded"] for p in provenance] == [e.recorded_at for e in entries]
    inject = next(p for p, e in zip(provenance, entries, strict=True) if e.action == "inject")
    who = [
        (a["type"]["coding"][0]["code"], a["who"]["identifier"]["value"]) for a in inject["agent"]
    ]
    assert who == [("author", "surgeon"), ("verifier", "nurse2")]
    close = provenance[-1]
    assert close["authorization"][0]["concept"]["text"] == "lost to follow-up"


def test_the_specimen_keeps_collection_and_each_processing_step(clinic: Clinic) -> None:
    bundle = case_bundle(full_case(clinic), clinic.db)
    (specimen,) = resources(bundle, "Specimen")
    assert specimen["collection"]["quantity"]["value"] == 60
    steps = [p["method"]["text"] for p in specimen["processing"]]
    assert steps == [
        "filtering",
        "centrifugation",
        "plasma and red-cell layer removal",
        "concentration",
    ]


def test_scores_become_observations_at_baseline_and_each_visit(clinic: Clinic) -> None:
    bundle = case_bundle(full_case(clinic), clinic.db)
    values = [
        (o["note"][0]["text"], o["code"]["text"], o["valueQuantity"]["value"])
        for o in resources(bundle, "Observation")
    ]
    assert values == [
        ("visit baseline", "VAS pain 0-10", 7),
        ("visit 1w", "VAS pain 0-10", 5),
        ("visit 1w", "KOOS 0-100", 58),
        ("visit 1m", "VAS pain 0-10", 3),
        ("visit 1m", "KOOS 0-100", 71),
    ]


@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("imaging_assessment", "preparation"),
        ("filtering", "in-progress"),
        ("follow_up", "completed"),
    ],
)
def test_the_procedure_status_follows_the_case_state(
    clinic: Clinic, state: str, status: str
) -> None:
    case_id = clinic.open()
    advance_to(clinic, case_id, state)
    bundle = case_bundle(case_id, clinic.db)
    fhir_bundle.Bundle.model_validate(bundle)
    assert resources(bundle, "Procedure")[0]["status"] == status


def test_a_case_cancelled_after_the_harvest_is_stopped_and_before_it_not_done(
    clinic: Clinic,
) -> None:
    early, late = clinic.open("P-1"), clinic.open("P-2")
    advance_to(clinic, late, "filtering")
    for case_id in (early, late):
        clinic.fire(case_id, "cancel", {}, who="surgeon", reason="patient withdrew")
    statuses = [resources(case_bundle(c, clinic.db), "Procedure")[0] for c in (early, late)]
    assert [p["status"] for p in statuses] == ["not-done", "stopped"]
    assert statuses[0]["statusReason"]["text"] == "patient withdrew"


def test_a_pseudonymized_export_carries_no_trace_of_the_clinic_number(clinic: Clinic) -> None:
    key = "a-key-of-sixteen-chars"
    case_id = full_case(clinic)
    bundle = case_bundle(case_id, clinic.db, key=key)
    fhir_bundle.Bundle.model_validate(bundle)
    assert "P-0042" not in json.dumps(bundle)
    assert resources(bundle, "Patient")[0]["identifier"][0]["value"] == pseudonym(key, "P-0042")


def test_several_cases_merge_into_one_valid_bundle(clinic: Clinic) -> None:
    from bmac_workflow.fhir import merge

    ids = [full_case(clinic), clinic.open("P-9")]
    bundles = [case_bundle(c, clinic.db) for c in ids]
    merged = merge(bundles, "2026-11-25T00:00:00Z")
    fhir_bundle.Bundle.model_validate(merged)
    assert len(resources(merged, "Patient")) == 2
    assert len({e["fullUrl"] for e in merged["entry"]}) == len(merged["entry"])


def test_audit_export_format_fhir_prints_a_bundle_that_validates(
    clinic: Clinic, bmac: Bmac
) -> None:
    first, second = full_case(clinic), clinic.open("P-0043")
    one = bmac("audit", "export", str(first), "--format", "fhir")
    assert one.exit_code == 0, one.stderr
    fhir_bundle.Bundle.model_validate(json.loads(one.stdout))
    everything = json.loads(bmac("audit", "export", "--format", "fhir").stdout)
    fhir_bundle.Bundle.model_validate(everything)
    patients = [e for e in everything["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert len(patients) == 2 and second
    key = {"BMAC_PSEUDONYM_KEY": "a-key-of-sixteen-chars"}
    hidden = bmac("audit", "export", str(first), "--format", "fhir", "--pseudonymize", env=key)
    assert hidden.exit_code == 0 and "P-0042" not in hidden.stdout
    assert bmac("audit", "export", "99", "--format", "fhir").exit_code == 3


def test_deviations_are_detected_issues_open_then_final_with_their_mitigation(
    clinic: Clinic,
) -> None:
    from datetime import timedelta

    from bmac_workflow.timeutil import utcnow

    case_id = clinic.open("P-0042", at=utcnow() - timedelta(hours=2), late_reason="paper sheet")
    (issue,) = resources(case_bundle(case_id, clinic.db), "DetectedIssue")
    assert issue["status"] == "preliminary" and issue["detail"] == "paper sheet"
    assert issue["code"]["coding"][0]["code"] == "late entry"
    assert clinic.review_deviations() == 1
    bundle = case_bundle(case_id, clinic.db)
    fhir_bundle.Bundle.model_validate(bundle)
    (issue,) = resources(bundle, "DetectedIssue")
    assert issue["status"] == "final"
    (mitigation,) = issue["mitigation"]
    assert mitigation["action"]["text"] == "none"
    assert mitigation["author"]["identifier"]["value"] == "qa"
    assert mitigation["note"][0]["text"] == "root cause: entered after the fact"
