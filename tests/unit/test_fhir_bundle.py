"""The FHIR R5 Bundle of a case, built from its log alone: it validates with `fhir.resources`,
its Specimen lists one processing item per processing step, and each entry has a Provenance."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from fhir.resources import bundle as fhir_bundle

from bmac_workflow.fhir import bundle_for_case
from bmac_workflow.record import Entry
from bmac_workflow.states import declared, workflow
from bmac_workflow.steps import STEPS, insert_after
from tests.unit.logs import corrected, happy_log, rows, snapshot, step


def full_case() -> list[Entry]:
    """Injected, seen at one week (the VAS corrected afterwards), closed early."""
    log = step(happy_log(), "record_follow_up", {"visit": "1w", "vas": 5, "koos": 58}, "nurse")
    log = corrected(log, 9, {"vas": 4.0}, reason="patient pointed at 4")
    return step(log, "close", {}, "surgeon", reason="lost to follow-up")


def bundle(log: list[Entry], hashes: bool = True) -> dict[str, Any]:
    made = bundle_for_case(snapshot(log), log, [h for _, _, h in rows(log)] if hashes else None)
    fhir_bundle.Bundle.model_validate(made)
    return made


def resources(made: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in made["entry"] if e["resource"]["resourceType"] == kind]


def test_the_bundle_of_a_whole_case_validates_as_fhir_r5() -> None:
    made = bundle(full_case())
    assert made["type"] == "collection"
    kinds = {e["resource"]["resourceType"] for e in made["entry"]}
    assert kinds == {"Patient", "Procedure", "Specimen", "Observation", "Provenance"}


def test_the_same_record_always_exports_the_same_bundle() -> None:
    assert bundle(full_case()) == bundle(full_case())


def test_the_specimen_has_one_processing_item_per_step_that_declares_a_fhir_label() -> None:
    log = happy_log()
    labelled = {s.trigger: s.fhir for s in workflow().steps if s.fhir}
    (specimen,) = resources(bundle(log), "Specimen")
    processed = [(p["method"]["text"], p["timeDateTime"]) for p in specimen["processing"]]
    assert processed == [(labelled[e.action], e.at) for e in log if e.action in labelled]
    assert [m for m, _ in processed] == [
        "filtering",
        "centrifugation",
        "plasma and red-cell layer removal",
        "concentration",
    ]


def test_a_processing_item_describes_what_the_step_recorded() -> None:
    (specimen,) = resources(bundle(happy_log()), "Specimen")
    assert (
        specimen["processing"][0]["description"] == "filtering: filter lot F-778, filtered ml 55.0"
    )


@pytest.mark.parametrize("label", [None, "rinsing"])
def test_a_declared_step_is_a_processing_item_exactly_when_it_has_a_fhir_label(
    label: str | None,
) -> None:
    filtering = workflow().by_trigger["filter"]
    rinse = replace(
        filtering, trigger="rinse", source="rinsing", command="step rinsing", fhir=label
    )
    with declared(insert_after(STEPS, "filter", rinse)):
        log = happy_log(rinse={"filtered_ml": 54})
        (specimen,) = resources(bundle(log), "Specimen")
    methods = [p["method"]["text"] for p in specimen["processing"]]
    assert [e.action for e in log].count("rinse") == 1
    assert ("rinsing" in methods) is (label is not None)
    assert len(methods) == 4 + (label is not None)


def test_a_case_not_yet_harvested_has_no_specimen() -> None:
    assert resources(bundle(happy_log(until="marrow_collection")), "Specimen") == []


def test_the_specimen_is_used_up_by_the_injection() -> None:
    statuses = [
        resources(bundle(happy_log(until=s)), "Specimen")[0]["status"]
        for s in ("injection", "follow_up")
    ]
    assert statuses == ["available", "unavailable"]


def ended(until: str, trigger: str, **assess: Any) -> list[Entry]:
    log = happy_log(until=until, assess=assess) if assess else happy_log(until=until)
    return step(log, trigger, {}, "surgeon", reason="patient withdrew") if trigger else log


@pytest.mark.parametrize(
    ("log", "status"),
    [
        (ended("imaging_assessment", ""), "preparation"),
        (ended("marrow_collection", ""), "in-progress"),
        (ended("centrifugation", ""), "in-progress"),
        (ended("injection", ""), "in-progress"),
        (ended("follow_up", ""), "completed"),
        (ended("follow_up", "close"), "completed"),
        (ended("marrow_collection", "", kl_grade=4), "not-done"),
        (ended("marrow_collection", "cancel"), "not-done"),
        (ended("filtering", "cancel"), "stopped"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_the_procedure_status_follows_the_case(log: list[Entry], status: str) -> None:
    (procedure,) = resources(bundle(log), "Procedure")
    assert procedure["status"] == status


def test_a_stopped_procedure_says_why() -> None:
    (procedure,) = resources(bundle(ended("filtering", "cancel")), "Procedure")
    assert procedure["statusReason"]["text"] == "patient withdrew"


def test_each_log_entry_has_one_provenance_in_order_with_its_hash() -> None:
    log = full_case()
    provenance = resources(bundle(log), "Provenance")
    assert len(provenance) == len(log)
    assert [p["recorded"] for p in provenance] == [e.recorded_at for e in log]
    assert [p["occurredDateTime"] for p in provenance] == [e.at for e in log]
    hashes = [p["entity"][0]["what"]["identifier"]["value"] for p in provenance]
    assert hashes == [h for _, _, h in rows(log)]
    assert provenance[-2]["activity"]["text"] == "entry 10: correct (follow_up -> follow_up)"
    assert provenance[-2]["authorization"][0]["concept"]["text"] == "patient pointed at 4"


def test_the_injection_s_provenance_names_the_surgeon_and_the_verifier() -> None:
    provenance = resources(bundle(happy_log()), "Provenance")[-1]
    agents = [
        (a["type"]["coding"][0]["code"], a["who"]["identifier"]["value"], a["role"][0]["text"])
        for a in provenance["agent"]
    ]
    assert agents == [
        ("author", "surgeon", "surgeon: performed"),
        ("verifier", "nurse2", "nurse: verified"),
    ]


def test_without_hashes_the_provenance_names_no_source_entry() -> None:
    assert all(
        "entity" not in p for p in resources(bundle(full_case(), hashes=False), "Provenance")
    )


def test_a_corrected_score_is_amended_and_shows_its_corrected_value() -> None:
    vas = [
        o
        for o in resources(bundle(full_case()), "Observation")
        if o["note"][0]["text"] == "visit 1w"
    ]
    assert (vas[0]["status"], vas[0]["valueQuantity"]["value"]) == ("amended", 4.0)


def test_a_score_that_was_not_corrected_stays_final() -> None:
    koos = [
        o
        for o in resources(bundle(full_case()), "Observation")
        if o["code"]["text"] == "KOOS 0-100"
    ]
    assert (koos[0]["status"], koos[0]["valueQuantity"]["value"]) == ("final", 58)
