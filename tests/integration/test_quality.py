"""Quality records on the store (SQLite and PostgreSQL): a kit lot traced and held, a device's
calibration and QC gating a step, deviations that must be closed, and the audit re-running it
all from the log."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bmac_workflow.access import AccessFilter
from bmac_workflow.errors import InvalidData, NotAllowed, NotFound, NotPermitted
from bmac_workflow.services import deviations, quality, reads
from bmac_workflow.services.access import access_entries
from bmac_workflow.services.sessions import Reader
from bmac_workflow.services.trace import trace
from bmac_workflow.services.verification import verify
from bmac_workflow.timeutil import utcnow
from tests.conftest import Clinic, advance_to, credentials
from tests.walk import step_values

QA_PIN = "739184"


def add_qa(clinic: Clinic) -> None:
    """The test clinic has its qa operator already (tests/walk.py)."""
    assert "qa" in clinic.ops


def qa() -> object:
    return credentials("qa", QA_PIN)


def on_lot(clinic: Clinic, patient: str, lot: str) -> int:
    """A case collected on kit lot `lot` (waiting for filtering)."""
    case_id = clinic.open(patient)
    clinic.fire(case_id, "assess", step_values("assess", case_id), "surgeon")
    clinic.fire(case_id, "collect", {**step_values("collect", case_id), "kit_lot": lot})
    return case_id


def test_trace_lot_lists_exactly_the_cases_that_used_it(clinic: Clinic) -> None:
    first, second = on_lot(clinic, "P-0001", "K-1"), on_lot(clinic, "P-0002", "K-1")
    other = on_lot(clinic, "P-0003", "K-2")
    rows = trace("lot", "K-1", clinic.db)
    assert [(r["case_id"], r["step"]) for r in rows] == [(first, "collect"), (second, "collect")]
    assert {r["patient"] for r in rows} == {"withheld"}
    assert [r["case_id"] for r in trace("lot", "K-2", clinic.db)] == [other]
    assert [r["patient"] for r in trace("lot", "K-1", clinic.db, reveal=True)] == [
        "P-0001",
        "P-0002",
    ]


def by_pin(who: str) -> Reader:
    return Reader("cli", credentials=credentials(who))


def test_a_trace_is_a_signed_read_in_the_access_log(clinic: Clinic) -> None:
    first, second = on_lot(clinic, "P-0001", "K-1"), on_lot(clinic, "P-0002", "K-1")
    on_lot(clinic, "P-0003", "K-2")
    now = utcnow()
    shown = reads.trace(by_pin("nurse"), "lot", "K-1", None, False, None, now, clinic.db)
    assert [(r["case_id"], r["patient"]) for r in shown] == [
        (first, "withheld"),
        (second, "withheld"),
    ]
    revealed = reads.trace(by_pin("surgeon"), "lot", "K-1", None, True, None, now, clinic.db)
    assert [r["patient"] for r in revealed] == ["P-0001", "P-0002"]
    # A nurse may not reveal: refused before anything is read or logged.
    with pytest.raises(NotPermitted, match="a nurse may not reveal patient") as refused:
        reads.trace(by_pin("nurse"), "lot", "K-1", None, True, None, now, clinic.db)
    assert refused.value.exit_code == 6
    with pytest.raises(NotPermitted, match="reading needs a sign-in") as unsigned:
        reads.trace(Reader("cli"), "device", "CF-1", None, False, None, now, clinic.db)
    assert unsigned.value.exit_code == 6
    nothing = reads.trace(by_pin("qa"), "device", "CF-1", "2000-01-01", False, None, now, clinic.db)
    assert nothing == []
    logged = access_entries(by_pin("auditor"), AccessFilter(), now, clinic.db)
    assert [(e["operator"], e["what"], e["cases"], e["patients"]) for e in logged] == [
        ("nurse", "trace lot", [first, second], ["P-0001", "P-0002"]),
        ("surgeon", "trace lot", [first, second], ["P-0001", "P-0002"]),
        ("qa", "trace device", [], []),
    ]


def test_a_held_lot_stops_its_cases_and_no_other_until_released(clinic: Clinic) -> None:
    add_qa(clinic)
    held_case, free_case = on_lot(clinic, "P-0001", "K-1"), on_lot(clinic, "P-0002", "K-2")
    quality.hold("K-1", "supplier recall", qa(), utcnow, clinic.db)  # type: ignore[arg-type]
    with pytest.raises(NotPermitted, match=r"lot K-1 is held .*by qa.*supplier recall") as refused:
        clinic.fire(held_case, "filter", step_values("filter", held_case))
    assert refused.value.exit_code == 6
    clinic.fire(free_case, "filter", step_values("filter", free_case))
    # A new case may not name the held lot either.
    with pytest.raises(NotPermitted, match="lot K-1 is held"):
        on_lot(clinic, "P-0004", "K-1")
    quality.release("K-1", "recall withdrawn", qa(), utcnow, clinic.db)  # type: ignore[arg-type]
    clinic.fire(held_case, "filter", step_values("filter", held_case))
    assert clinic.state_of(held_case) == "centrifugation"
    assert verify(clinic.db, full=True) == []


def test_holds_are_for_qa_or_a_surgeon_and_fit_the_lots_state(clinic: Clinic) -> None:
    add_qa(clinic)
    with pytest.raises(NotPermitted, match="a nurse may not hold lot"):
        quality.hold("K-1", "why", credentials("nurse"), utcnow, clinic.db)
    with pytest.raises(NotAllowed, match="lot K-1 was not held"):
        quality.release("K-1", "why", qa(), utcnow, clinic.db)  # type: ignore[arg-type]
    quality.hold("K-1", "why", credentials("surgeon"), utcnow, clinic.db)
    with pytest.raises(NotAllowed, match="held already"):
        quality.hold("K-1", "again", qa(), utcnow, clinic.db)  # type: ignore[arg-type]
    with pytest.raises(InvalidData, match="--reason is empty"):
        quality.release("K-1", "  ", qa(), utcnow, clinic.db)  # type: ignore[arg-type]


def centrifuge_values(case_id: int, device: str = "CF-9", **more: object) -> dict[str, object]:
    return {**step_values("centrifuge", case_id), "device_id": device, **more}


def test_a_device_past_calibration_refuses_the_step_until_a_surgeon_overrides(
    clinic: Clinic,
) -> None:
    add_qa(clinic)
    yesterday = (utcnow().astimezone() - timedelta(days=1)).date().isoformat()
    quality.add_device("CF-9", "centrifuge", yesterday, qa(), utcnow, clinic.db)  # type: ignore[arg-type]
    quality.check("CF-9", True, None, qa(), utcnow, clinic.db)  # type: ignore[arg-type]
    case_id = clinic.open()
    advance_to(clinic, case_id, "centrifugation")
    with pytest.raises(
        NotPermitted, match=f"due for calibration on {yesterday}.*--override-reason"
    ):
        clinic.fire(case_id, "centrifuge", centrifuge_values(case_id))
    with pytest.raises(NotPermitted, match="only a surgeon may override"):
        clinic.fire(case_id, "centrifuge", centrifuge_values(case_id, override_reason="urgent"))
    change = clinic.fire(
        case_id, "centrifuge", centrifuge_values(case_id, override_reason="only centrifuge"),
        "surgeon",
    )  # fmt: skip
    assert change.entry.signer.meaning == "overridden"
    assert change.entry.data["device_registered"] is True
    (opened,) = deviations.listing(True, clinic.db)
    assert (opened["case_id"], opened["entry"], opened["kind"]) == (case_id, 5, "device")
    advance_to(clinic, case_id, "follow_up")
    with pytest.raises(NotAllowed, match=r"open deviations \(#1 \(device, entry 5\)\)"):
        clinic.fire(case_id, "close", who="surgeon", reason="lost to follow-up")
    number = opened["deviation"]
    with pytest.raises(NotPermitted, match="own override"):
        deviations.close(
            number, "lapsed", "recalibrated", credentials("surgeon"), utcnow, clinic.db
        )
    with pytest.raises(NotPermitted, match="a nurse may not close deviation"):
        deviations.close(number, "lapsed", "recalibrated", credentials("nurse"), utcnow, clinic.db)
    deviations.close(number, "lapsed", "recalibrated", qa(), utcnow, clinic.db)  # type: ignore[arg-type]
    with pytest.raises(NotAllowed, match="was closed by entry"):
        deviations.close(number, "again", "again", qa(), utcnow, clinic.db)  # type: ignore[arg-type]
    shown = deviations.show(number, clinic.db)
    assert (shown["closed_by"], shown["root_cause"], shown["why"]) == (
        "qa",
        "lapsed",
        "only centrifuge",
    )
    clinic.fire(case_id, "close", who="surgeon", reason="lost to follow-up")
    assert clinic.state_of(case_id) == "closed"
    assert verify(clinic.db, full=True) == []


def test_qc_gates_on_the_local_day_and_unregistered_devices_pass_unless_required(
    clinic: Clinic,
) -> None:
    add_qa(clinic)
    due = (utcnow().astimezone() + timedelta(days=30)).date().isoformat()
    quality.add_device("CF-9", "centrifuge", due, qa(), utcnow, clinic.db)  # type: ignore[arg-type]
    first, second, third = clinic.open("P-0001"), clinic.open("P-0002"), clinic.open("P-0003")
    for case_id in (first, second, third):
        advance_to(clinic, case_id, "centrifugation")
    with pytest.raises(NotPermitted, match="has no QC on"):
        clinic.fire(first, "centrifuge", centrifuge_values(first))
    quality.check("CF-9", False, "noisy rotor", qa(), utcnow, clinic.db)  # type: ignore[arg-type]
    with pytest.raises(NotPermitted, match="failed its last QC"):
        clinic.fire(first, "centrifuge", centrifuge_values(first))
    quality.check("CF-9", True, None, qa(), utcnow, clinic.db)  # type: ignore[arg-type]
    clinic.fire(first, "centrifuge", centrifuge_values(first))
    unregistered = clinic.fire(second, "centrifuge", centrifuge_values(second, "CF-NEW"))
    assert unregistered.entry.data["device_registered"] is False
    assert [r["case_id"] for r in trace("device", "CF-9", clinic.db)] == [first]
    with pytest.raises(NotFound, match="not registered"):
        quality.calibrate("CF-NEW", due, qa(), utcnow, clinic.db)  # type: ignore[arg-type]
    assert verify(clinic.db, full=True) == []
    listed = quality.listing(clinic.db)["devices"]
    assert [(d["id"], d["last_qc_passed"]) for d in listed] == [("CF-9", True)]


def test_a_late_entry_opens_a_deviation_that_holds_the_case_open_until_closed(
    clinic: Clinic,
) -> None:
    # Logged after the fact with a reason (--late-reason): a deviation someone else reviews.
    case_id = clinic.open(at=utcnow() - timedelta(hours=2), late_reason="paper sheet")
    (opened,) = deviations.listing(True, clinic.db)
    assert (opened["case_id"], opened["entry"], opened["kind"]) == (case_id, 1, "late entry")
    assert deviations.show(opened["deviation"], clinic.db)["why"] == "paper sheet"
    advance_to(clinic, case_id, "follow_up")
    with pytest.raises(NotAllowed, match=r"open deviations \(#1 \(late entry, entry 1\)\)"):
        clinic.fire(case_id, "close", who="surgeon", reason="lost to follow-up")
    deviations.close(opened["deviation"], "paper sheet", "enter at the bedside", qa(), utcnow,
                     clinic.db)  # type: ignore[arg-type]  # fmt: skip
    clinic.fire(case_id, "close", who="surgeon", reason="lost to follow-up")
    assert verify(clinic.db, full=True) == []
