"""A database made by an earlier bmac (commit 72fa156, tests/fixtures) opens, verifies and shows
its cases with this one, also after a new protocol key with a default is added."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bmac_workflow import protocol as protocol_module

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "db-at-72fa156.sqlite3"
CHECKPOINT = "cb730e82d4eff2e52d6a26fa003f22e2ed013ab85bf9180b91fcf1f61cfefab2"


@pytest.fixture
def old_url(tmp_path: Path) -> str:
    copy = tmp_path / "old.sqlite3"
    shutil.copyfile(FIXTURE, copy)
    return f"sqlite:///{copy}"


def bmac(url: str, *args: str) -> Result:
    from bmac_workflow.cli import cli

    env = {"BMAC_DATABASE_URL": url}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_the_old_record_verifies_against_the_checkpoint_it_took(old_url: str) -> None:
    result = bmac(old_url, "audit", "verify", "--against", CHECKPOINT)
    assert result.exit_code == 0, result.stderr
    assert "record verified: 29 entries" in result.stdout


def test_the_old_cases_list_and_show_where_they_stand(old_url: str) -> None:
    listed = json.loads(bmac(old_url, "case", "list", "--json").stdout)
    assert [(c["case_id"], c["state"]) for c in listed] == [
        (6, "imaging_assessment"),
        (5, "cancelled"),
        (4, "ineligible"),
        (3, "centrifugation"),
        (2, "follow_up"),
        (1, "closed"),
    ]
    status = json.loads(bmac(old_url, "case", "status", "2", "--json").stdout)
    assert status["protocol_version"] == "bmac-knee-2026.1"
    assert status["volumes_ml"]["filtered_ml"] == 54  # its correction
    assert status["next_visit"]["visit"] == "1w"
    timeline = json.loads(bmac(old_url, "case", "timeline", "2", "--json").stdout)
    assert timeline[3]["corrected_by"][0]["reason"] == "misread the scale"


def test_a_new_protocol_key_takes_its_default_in_the_old_protocol_and_is_shown(
    old_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bmac_workflow.store import repository

    defaults = {**protocol_module.DEFAULTS, "injection.late_entry_minutes": 15}
    monkeypatch.setattr(protocol_module, "DEFAULTS", defaults)
    repository.stored_protocol.cache_clear()
    try:
        status = bmac(old_url, "case", "status", "3")
        assert status.exit_code == 0, status.stderr
        assert "defaults for: injection.late_entry_minutes" in status.stdout
        as_json = json.loads(bmac(old_url, "case", "status", "3", "--json").stdout)
        assert as_json["protocol_defaults"] == ["injection.late_entry_minutes"]
        assert bmac(old_url, "audit", "verify").exit_code == 0
    finally:
        repository.stored_protocol.cache_clear()


def test_the_old_case_goes_on_under_its_own_protocol(old_url: str) -> None:
    from tests.walk import PINS, step_args

    env = {"BMAC_OPERATOR": "nurse", "BMAC_PIN": PINS["nurse"]}
    from bmac_workflow.cli import cli

    result = CliRunner().invoke(
        cli,
        step_args("centrifuge", 3),
        env={"BMAC_DATABASE_URL": old_url, **env},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    assert "centrifugation -> plasma_removal" in result.stdout
    assert bmac(old_url, "audit", "verify").exit_code == 0
