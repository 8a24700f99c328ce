"""A database made by an earlier bmac (commit 72fa156, before signing keys; tests/fixtures) is
upgraded, verifies and shows its cases with this one: its entries verify by hash and read as
"signed before keys", and each operator takes a key at their next sign-in."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bmac_workflow import protocol as protocol_module
from tests.walk import step_args

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "db-at-72fa156.sqlite3"
CHECKPOINT = "cb730e82d4eff2e52d6a26fa003f22e2ed013ab85bf9180b91fcf1f61cfefab2"
# The PINs the old release allowed (tests/fixtures/make_db_at_72fa156.py): too weak now.
OLD_PINS = {"admin": "9000", "nurse": "1111", "nurse2": "2222", "surgeon": "3333"}
NEW_PIN = "580417"
# Who reads when a test names nobody: reading signs in too (BMAC_PIN, as scripts do); the old
# PIN is checked and nothing of the surgeon changes.
READER = {"BMAC_OPERATOR": "surgeon", "BMAC_PIN": OLD_PINS["surgeon"]}


@pytest.fixture
def old_file(tmp_path: Path) -> Path:
    copy = tmp_path / "old.sqlite3"
    shutil.copyfile(FIXTURE, copy)
    return copy


@pytest.fixture
def old_url(old_file: Path) -> str:
    url = f"sqlite:///{old_file}"
    upgraded = bmac(url, "db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.stderr
    return url


def bmac(url: str, *args: str, **env: str) -> Result:
    from bmac_workflow.cli import cli

    return CliRunner().invoke(
        cli, list(args), env={"BMAC_DATABASE_URL": url, **READER, **env}, catch_exceptions=False
    )


def as_operator(who: str, new_pin: str | None = None) -> dict[str, str]:
    env = {"BMAC_OPERATOR": who, "BMAC_PIN": OLD_PINS[who]}
    return {**env, "BMAC_NEW_PIN": new_pin} if new_pin else env


def test_the_old_database_must_be_upgraded_first_and_says_how(old_file: Path) -> None:
    result = bmac(f"sqlite:///{old_file}", "case", "list")
    assert result.exit_code == 1
    assert "run `bmac db upgrade`" in result.stderr


def test_the_old_record_verifies_by_hash_against_the_checkpoint_it_took(old_url: str) -> None:
    result = bmac(old_url, "audit", "verify", "--full", "--against", CHECKPOINT)
    assert result.exit_code == 0, result.stdout
    assert "record verified: 29 entries (29 signed before keys" in result.stdout


def test_an_old_entry_rewritten_after_the_upgrade_is_caught_by_the_migration_s_seal(
    old_url: str, old_file: Path
) -> None:
    # Without a signature, only the seal the migration took (in the signed registry) and the
    # old checkpoint stand between an old entry and a rewrite with its hashes re-computed.
    from bmac_workflow.record import digest

    conn = sqlite3.connect(old_file)
    conn.execute("DROP TRIGGER IF EXISTS entries_no_update")
    (body,) = conn.execute("SELECT body FROM entries WHERE case_id = 6 AND seq = 1").fetchone()
    forged = body.replace('"P-0006"', '"P-0099"')
    assert forged != body
    conn.execute(
        "UPDATE entries SET body = ?, hash = ? WHERE case_id = 6 AND seq = 1",
        (forged, digest(forged)),
    )
    facts = conn.execute("SELECT facts FROM cases WHERE id = 6").fetchone()[0]
    conn.execute(
        "UPDATE cases SET head_hash = ?, patient_ref = 'P-0099', facts = ? WHERE id = 6",
        (digest(forged), facts.replace('"P-0006"', '"P-0099"')),
    )
    conn.commit()
    conn.close()
    result = bmac(old_url, "audit", "verify")
    assert result.exit_code == 8
    assert "entries signed before keys differ from those the migration sealed" in result.stdout


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
    assert {row["key"] for row in timeline} == {None}
    shown = bmac(old_url, "case", "timeline", "2").stdout
    assert shown.count("before keys (its hash is its proof)") == len(timeline)


def test_the_old_clinic_keeps_its_protocol_active_until_an_admin_activates_another(
    old_url: str,
) -> None:
    listed = json.loads(bmac(old_url, "protocol", "list", "--json").stdout)
    assert [(p["version"], p["active"]) for p in listed] == [("bmac-knee-2026.1", True)]


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
        assert (
            "defaults for: recording.late_after_minutes, injection.late_entry_minutes"
            in status.stdout
        )
        as_json = json.loads(bmac(old_url, "case", "status", "3", "--json").stdout)
        assert as_json["protocol_defaults"] == [
            "recording.late_after_minutes",  # a key its protocol predates, as this one
            "injection.late_entry_minutes",
        ]
        assert bmac(old_url, "audit", "verify").exit_code == 0
    finally:
        repository.stored_protocol.cache_clear()


def test_an_old_pin_must_be_replaced_at_the_first_sign_in(old_url: str) -> None:
    refused = bmac(old_url, *step_args("centrifuge", 3), **as_operator("nurse"))
    assert refused.exit_code == 6
    assert "must choose a new PIN" in refused.stderr and "BMAC_NEW_PIN" in refused.stderr
    weak = bmac(old_url, *step_args("centrifuge", 3), **as_operator("nurse", "222222"))
    assert weak.exit_code == 5 and "one character repeated" in weak.stderr
    assert json.loads(bmac(old_url, "case", "status", "3", "--json").stdout)["entries"] == 4


def test_the_old_case_goes_on_signed_with_the_key_the_nurse_takes_at_her_first_sign_in(
    old_url: str,
) -> None:
    result = bmac(old_url, *step_args("centrifuge", 3), **as_operator("nurse", NEW_PIN))
    assert result.exit_code == 0, result.stderr
    assert "centrifugation -> plasma_removal" in result.stdout
    timeline = json.loads(bmac(old_url, "case", "timeline", "3", "--json").stdout)
    assert [row["key"] is not None for row in timeline][-2:] == [False, True]
    listed = {o["id"]: o for o in json.loads(bmac(old_url, "operator", "list", "--json").stdout)}
    assert listed["nurse"]["key"] == timeline[-1]["key"]
    assert listed["surgeon"]["key"] is None
    verified = bmac(old_url, "audit", "verify", "--full")
    assert verified.exit_code == 0, verified.stdout
    # The old PIN opens nothing now; the new one signs without being asked to change again.
    old = bmac(old_url, *step_args("remove_plasma", 3), **as_operator("nurse"))
    assert old.exit_code == 6 and "wrong PIN" in old.stderr
    env = {"BMAC_OPERATOR": "nurse", "BMAC_PIN": NEW_PIN}
    assert bmac(old_url, *step_args("remove_plasma", 3), **env).exit_code == 0


def test_the_old_admin_takes_a_key_and_goes_on_managing_operators(old_url: str) -> None:
    # BMAC_NEW_PIN answers both prompts here: the admin's own new PIN and the new nurse's.
    added = bmac(
        old_url,
        "operator", "add", "nurse3", "--name", "Nurse Three", "--role", "nurse",
        **as_operator("admin", "613920"),
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    env = {"BMAC_OPERATOR": "nurse3", "BMAC_PIN": "613920"}
    opened = bmac(old_url, "case", "open", "--patient", "P-0100", "--knee", "left", **env)
    assert opened.exit_code == 0, opened.stderr
    status = json.loads(bmac(old_url, "case", "status", "7", "--json").stdout)
    assert status["protocol_version"] == "bmac-knee-2026.1"  # the clinic's active one
    assert bmac(old_url, "audit", "verify", "--full").exit_code == 0
