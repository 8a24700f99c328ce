"""The audit commands as an auditor uses them: replay, checkpoint, export, offline verification."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bmac_workflow.timeutil import iso, utcnow
from tests.conftest import Bmac, Clinic, advance_to
from tests.walk import step_values

SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "verify_export.py"


def as_json(result: Any) -> Any:
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def demo_like_cases(clinic: Clinic) -> list[int]:
    """A case in every state of the happy path, plus ineligible, cancelled, overridden,
    followed-up, closed and corrected ones."""
    ids = []
    for state in ("imaging_assessment", "marrow_collection", "concentration", "follow_up"):
        case_id = clinic.open(patient=f"P-{len(ids) + 1:04d}")
        advance_to(clinic, case_id, state)
        ids.append(case_id)
    ineligible = clinic.open(patient="P-0100")
    no = {**step_values("assess", ineligible), "kl_grade": 4, "baseline_vas": 8}
    clinic.fire(ineligible, "assess", no, "surgeon")
    overridden = clinic.open(patient="P-0101")
    clinic.fire(
        overridden, "assess", {**no, "kl_grade": 1, "override_reason": "young, active"}, "surgeon"
    )
    clinic.fire(overridden, "collect", step_values("collect", overridden), "nurse")
    cancelled = clinic.open(patient="P-0102")
    advance_to(clinic, cancelled, "filtering")
    clinic.fire(cancelled, "cancel", {}, "surgeon", reason="patient withdrew")
    closed = clinic.open(patient="P-0103")
    advance_to(clinic, closed, "follow_up")
    clinic.fire(closed, "record_follow_up", {"visit": "1w", "vas": 3}, "nurse")
    clinic.fire(closed, "close", {}, "surgeon", reason="lost to follow-up")
    return [*ids, ineligible, overridden, cancelled, closed]


def test_replay_of_every_demo_like_case_ends_in_its_status(clinic: Clinic, bmac: Bmac) -> None:
    cases = demo_like_cases(clinic)
    corrected = bmac(
        "case",
        "correct",
        "4",
        "--entry",
        "3",
        "--set",
        "aspirate_ml=66",
        "--reason",
        "scale misread",
        who="nurse",
    )
    assert corrected.exit_code == 0, corrected.stderr
    for case_id in cases:
        status = as_json(bmac("case", "status", str(case_id), "--json"))
        replayed = as_json(bmac("audit", "replay", str(case_id), "--json"))
        assert len(replayed["steps"]) == status["entries"]
        final = {k: v for k, v in replayed["final"].items() if k != "window_minutes_left"}
        assert final == {k: v for k, v in status.items() if k != "window_minutes_left"}
    text = bmac("audit", "replay", "4")
    assert text.exit_code == 0
    assert text.stdout.splitlines()[-1] == "state: follow_up after 10 entries"
    assert "concentration_factor: 11.0" in text.stdout


def test_replay_at_a_time_between_two_steps_gives_the_earlier_state(
    clinic: Clinic, bmac: Bmac
) -> None:
    start = utcnow() - timedelta(hours=3)
    case_id = clinic.open(at=start - timedelta(minutes=5))
    advance_to(clinic, case_id, "follow_up", start=start)  # steps at +0, +10, ... +60 min
    between = iso(start + timedelta(minutes=25))  # after filter (+20), before centrifuge (+30)
    replayed = as_json(bmac("audit", "replay", str(case_id), "--at", between, "--json"))
    assert [s["action"] for s in replayed["steps"]][-1] == "filter"
    assert replayed["final"]["state"] == "centrifugation"
    assert replayed["final"]["volumes_ml"] == {"aspirate_ml": 60.0, "filtered_ml": 55.0}
    too_early = bmac("audit", "replay", str(case_id), "--at", iso(start - timedelta(days=1)))
    assert too_early.exit_code == 5 and "not opened yet" in too_early.stderr


def test_an_export_verifies_offline_and_one_changed_byte_is_rejected(
    clinic: Clinic, bmac: Bmac, tmp_path: Path
) -> None:
    advance_to(clinic, clinic.open(), "follow_up")
    mark = bmac("audit", "checkpoint", who="auditor").stdout.strip()
    advance_to(clinic, clinic.open(patient="P-0002"), "filtering")
    export = bmac("audit", "export", "--format", "json")
    assert export.exit_code == 0, export.stderr
    good = tmp_path / "record.json"
    good.write_text(export.stdout, encoding="utf-8")
    ok = subprocess.run(
        [sys.executable, str(SCRIPT), str(good), "--against", mark],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stdout
    assert "verified: 11 entries in 2 case(s), 1 checkpoint(s)" in ok.stdout
    text = export.stdout
    at = text.index("heparin")
    bad = tmp_path / "altered.json"
    bad.write_text(text[:at] + "heparim" + text[at + 7 :], encoding="utf-8")
    refused = subprocess.run(
        [sys.executable, str(SCRIPT), str(bad)], capture_output=True, text=True, check=False
    )
    assert refused.returncode == 1
    assert "case 1, seq 3, hash does not match the body" in refused.stdout


def test_a_pseudonymized_csv_export_hides_patients_and_still_verifies(
    clinic: Clinic, bmac: Bmac, tmp_path: Path
) -> None:
    advance_to(clinic, clinic.open(patient="P-SECRET-7"), "filtering")
    refused = bmac("audit", "export", "--format", "csv", "--pseudonymize")
    assert refused.exit_code == 5 and "BMAC_PSEUDONYM_KEY" in refused.stderr
    key = {"BMAC_PSEUDONYM_KEY": "a-long-enough-secret-key"}
    export = bmac("audit", "export", "--format", "csv", "--pseudonymize", env=key)
    assert export.exit_code == 0, export.stderr
    assert "P-SECRET-7" not in export.stdout and "a-long-enough-secret-key" not in export.stdout
    assert "psn-" in export.stdout
    again = bmac("audit", "export", "1", "--format", "csv", "--pseudonymize", env=key)
    assert again.stdout == export.stdout  # same key, same pseudonyms
    path = tmp_path / "record.csv"
    path.write_text(export.stdout, encoding="utf-8")
    checked = subprocess.run(
        [sys.executable, str(SCRIPT), str(path)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout
    assert "1 pseudonymized" in checked.stdout


def test_only_auditors_take_checkpoints(clinic: Clinic, bmac: Bmac) -> None:
    for who in ("nurse", "admin"):
        refused = bmac("audit", "checkpoint", who=who)
        assert refused.exit_code == 6
    assert clinic.count("checkpoints") == 0
    taken = bmac("audit", "checkpoint", who="auditor")
    assert taken.exit_code == 0 and len(taken.stdout.strip()) == 64
    assert clinic.count("checkpoints") == 1


def test_verify_names_a_missing_case_and_a_malformed_digest(clinic: Clinic, bmac: Bmac) -> None:
    missing = bmac("audit", "verify", "42")
    assert missing.exit_code == 3 and missing.stderr.startswith("error: no case 42")
    malformed = bmac("audit", "verify", "--against", "abc")
    assert malformed.exit_code == 5 and "64 hex digits" in malformed.stderr


@pytest.mark.parametrize("command", ["verify", "checkpoint", "replay", "export"])
def test_every_audit_command_has_help_with_an_example(bmac: Bmac, command: str) -> None:
    result = bmac("audit", command, "--help")
    assert result.exit_code == 0
    assert "Example:" in result.stdout


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_exporting_an_unknown_case_writes_nothing(bmac: Bmac, fmt: str) -> None:
    result = bmac("audit", "export", "42", "--format", fmt)
    assert result.exit_code == 3
    assert result.stdout == ""
