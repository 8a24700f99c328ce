"""Corrections at the command line: `bmac case correct`, and what status, the timeline and the
audit show of a corrected entry afterwards (the rules themselves: tests/integration)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Bmac, Clinic, advance_to
from tests.integration.test_corrections import SEQ, run

# The first entry after the injection (SEQ: the entry each happy step is logged as).
NEXT = max(SEQ.values()) + 1


def correct_args(case_id: int, seq: int, setting: str, reason: str) -> list[str]:
    return [
        "case",
        "correct",
        str(case_id),
        "--entry",
        str(seq),
        "--set",
        setting,
        "--reason",
        reason,
    ]


@pytest.fixture
def injected(clinic: Clinic) -> int:
    case_id = clinic.open()
    advance_to(clinic, case_id, "follow_up")
    return case_id


def status(bmac: Bmac, case_id: int) -> dict[str, Any]:
    return dict(json.loads(bmac("case", "status", str(case_id), "--json").stdout))


def timeline(bmac: Bmac, case_id: int) -> list[dict[str, Any]]:
    return list(json.loads(bmac("case", "timeline", str(case_id), "--json").stdout))


def test_a_corrected_volume_shows_in_status_and_keeps_the_original_visible(
    clinic: Clinic, bmac: Bmac, injected: int
) -> None:
    filtering = SEQ["filter"]
    result = bmac(
        *correct_args(injected, filtering, "filtered-ml=52", "misread the scale"), who="nurse"
    )
    assert result.exit_code == 0, result.stderr
    assert (
        f"entry {filtering} corrected in entry {NEXT} (filtered_ml 55.0 -> 52.0)" in result.stdout
    )
    assert status(bmac, injected)["volumes_ml"]["filtered_ml"] == 52
    row = timeline(bmac, injected)[filtering - 1]
    assert row["data"]["filtered_ml"] == 52
    assert row["original_data"]["filtered_ml"] == 55
    assert row["corrected_by"][0]["operator"] == "nurse"
    assert row["corrected_by"][0]["reason"] == "misread the scale"
    last = timeline(bmac, injected)[-1]
    assert (last["action"], last["corrects"], last["reason"]) == (
        "correct",
        filtering,
        "misread the scale",
    )
    assert bmac("audit", "verify").exit_code == 0


def test_correcting_the_aspirate_re_derives_the_concentration_factor(
    clinic: Clinic, bmac: Bmac, injected: int
) -> None:
    done = run(clinic, injected, SEQ["collect"], aspirate_ml=90)
    assert [e.corrects for e in done.entries] == [SEQ["collect"], SEQ["concentrate"]]
    assert done.entries[1].data["changes"] == {"concentration_factor": 15.0}
    after = status(bmac, injected)
    assert after["volumes_ml"]["aspirate_ml"] == 90
    assert after["concentration_factor"] == 15.0
    assert bmac("audit", "verify").exit_code == 0


def test_the_cli_refuses_a_path_change_with_exit_4_and_writes_nothing(
    clinic: Clinic, bmac: Bmac, injected: int
) -> None:
    before = clinic.counts()
    result = bmac(*correct_args(injected, SEQ["assess"], "kl_grade=4", "x"), who="surgeon")
    assert result.exit_code == 4
    assert result.stderr.startswith("error: ") and "incident process" in result.stderr
    assert clinic.counts() == before


def test_before_the_injection_the_way_forward_is_a_new_case(clinic: Clinic, bmac: Bmac) -> None:
    case_id = clinic.open()
    advance_to(clinic, case_id, "filtering")
    result = bmac(*correct_args(case_id, SEQ["open"], "knee=right", "x"), who="surgeon")
    assert result.exit_code == 4
    assert f"bmac case cancel {case_id}" in result.stderr


def test_the_timeline_text_shows_the_original_value_and_who_corrected_it(
    clinic: Clinic, bmac: Bmac, injected: int
) -> None:
    run(clinic, injected, SEQ["filter"], filtered_ml=52)
    text = bmac("case", "timeline", str(injected)).stdout
    assert "filtered_ml=52.0" in text
    assert f"corrected by Nurse Name in entry {NEXT} (filtered_ml was 55.0): typed wrong" in text


def test_a_malformed_set_option_is_a_usage_error(clinic: Clinic, bmac: Bmac, injected: int) -> None:
    result = bmac(*correct_args(injected, SEQ["filter"], "filtered_ml", "x"), who="nurse")
    assert result.exit_code == 2
    assert "field=value" in result.stderr
