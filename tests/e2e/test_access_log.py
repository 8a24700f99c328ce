"""Acceptance: after views of three cases over the CLI and the web, `bmac audit access --json`
lists exactly those views with operator and channel; the FHIR export carries them as
AuditEvents that validate."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from fhir.resources.bundle import Bundle

from bmac_workflow.timeutil import utcnow
from bmac_workflow.web.app import create_app
from tests.conftest import PINS, Bmac, Clinic
from tests.walk import step_values


def test_audit_access_lists_exactly_the_views_made(clinic: Clinic, bmac: Bmac) -> None:
    for patient in ("P-0001", "P-0002", "P-0003"):
        clinic.open(patient)
    assert bmac("case", "status", "1", who="nurse").exit_code == 0
    assert bmac("case", "timeline", "2").exit_code == 0  # the auditor's session
    web = TestClient(create_app(clinic.db, utcnow))
    signed_in = {"operator": "surgeon", "pin": PINS["surgeon"]}
    assert web.post("/login", data=signed_in, follow_redirects=False).status_code == 303
    assert web.get("/cases/3").status_code == 200
    assert web.get("/api/cases/2").status_code == 200

    listed = json.loads(bmac("audit", "access", "--json").stdout)
    assert [
        (e["operator"], e["channel"], e["what"], e["cases"], e["patients"]) for e in listed
    ] == [
        ("nurse", "cli", "case status", [1], ["P-0001"]),
        ("auditor", "cli", "case timeline", [2], ["P-0002"]),
        ("surgeon", "web", "case page", [3], ["P-0003"]),
        ("surgeon", "api", "case status", [2], ["P-0002"]),
    ]
    # The listing was a read too; the filters.
    by_patient = json.loads(bmac("audit", "access", "--patient", "P-0002", "--json").stdout)
    assert [e["seq"] for e in by_patient] == [2, 4, 5]
    by_case = json.loads(bmac("audit", "access", "--case", "3", "--json").stdout)
    assert by_case[0]["what"] == "case page"
    assert {e["what"] for e in by_case[1:]} == {"audit access"}  # listings that showed case 3
    by_surgeon = json.loads(bmac("audit", "access", "--operator", "surgeon", "--json").stdout)
    assert [e["seq"] for e in by_surgeon] == [3, 4]
    later = json.loads(bmac("audit", "access", "--since", "2999-01-01", "--json").stdout)
    assert later == []
    assert bmac("audit", "verify").exit_code == 0


def test_the_fhir_export_carries_every_read_as_an_audit_event(clinic: Clinic, bmac: Bmac) -> None:
    clinic.open("P-0001")
    clinic.open("P-0002")
    assert bmac("case", "status", "1").exit_code == 0
    assert bmac("case", "status", "2").exit_code == 0
    whole = json.loads(bmac("audit", "export", "--format", "fhir").stdout)
    Bundle.model_validate(whole)
    events = [
        e["resource"] for e in whole["entry"] if e["resource"]["resourceType"] == "AuditEvent"
    ]
    assert [e["code"]["text"] for e in events] == ["case status", "case status"]
    one = json.loads(bmac("audit", "export", "1", "--format", "fhir").stdout)
    Bundle.model_validate(one)
    events = [e["resource"] for e in one["entry"] if e["resource"]["resourceType"] == "AuditEvent"]
    # The reads of case 1: its status, and the whole export before.
    assert [e["code"]["text"] for e in events] == ["case status", "audit export"]
    assert events[0]["entity"][0]["what"]["identifier"]["value"] == "P-0001"


def test_a_trace_logs_every_case_it_lists_and_reveals_only_to_a_surgeon_or_auditor(
    clinic: Clinic, bmac: Bmac
) -> None:
    on_lot = []
    for patient, lot in (("P-0001", "K-1"), ("P-0002", "K-2"), ("P-0003", "K-1")):
        case_id = clinic.open(patient)
        clinic.fire(case_id, "assess", step_values("assess", case_id), "surgeon")
        clinic.fire(case_id, "collect", {**step_values("collect", case_id), "kit_lot": lot})
        on_lot.append(case_id)
    traced = bmac("trace", "lot", "K-1", "--json", who="nurse")
    assert traced.exit_code == 0, traced.stderr
    assert [(r["case_id"], r["patient"]) for r in json.loads(traced.stdout)] == [
        (on_lot[0], "withheld"),
        (on_lot[2], "withheld"),
    ]
    # The auditor's session reveals, asking no PIN; a nurse's --reveal is refused, unlogged.
    revealed = bmac("trace", "lot", "K-1", "--reveal", "--json")
    assert [r["patient"] for r in json.loads(revealed.stdout)] == ["P-0001", "P-0003"]
    refused = bmac("trace", "lot", "K-1", "--reveal", who="nurse")
    assert refused.exit_code == 6 and refused.stdout == ""
    assert refused.stderr.startswith("error: a nurse may not reveal patient")
    assert bmac("trace", "device", "CF-NONE", who="surgeon").exit_code == 0

    listed = json.loads(bmac("audit", "access", "--json").stdout)
    assert [(e["operator"], e["what"], e["cases"], e["patients"]) for e in listed] == [
        ("nurse", "trace lot", [on_lot[0], on_lot[2]], ["P-0001", "P-0003"]),
        ("auditor", "trace lot", [on_lot[0], on_lot[2]], ["P-0001", "P-0003"]),
        ("surgeon", "trace device", [], []),
    ]


def test_deviation_and_device_reads_are_signed_in_and_logged(clinic: Clinic, bmac: Bmac) -> None:
    clinic.open("P-0001")
    overridden = clinic.open("P-0002")
    values = {**step_values("assess", overridden), "kl_grade": 1, "override_reason": "pain"}
    clinic.fire(overridden, "assess", values, "surgeon")

    listed = bmac("deviation", "list", "--json", who="nurse")
    assert listed.exit_code == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert row["case_id"] == overridden
    shown = bmac("deviation", "show", str(row["deviation"]), "--json", who="surgeon")
    assert shown.exit_code == 0 and json.loads(shown.stdout)["case_id"] == overridden
    assert bmac("device", "list", "--json", who="qa").exit_code == 0

    logged = json.loads(bmac("audit", "access", "--json").stdout)
    assert [(e["operator"], e["what"], e["cases"], e["patients"]) for e in logged] == [
        ("nurse", "deviation list", [overridden], ["P-0002"]),
        ("surgeon", "deviation show", [overridden], ["P-0002"]),
        ("qa", "device list", [], []),
    ]
