"""Reading needs a sign-in: `bmac login` opens a session for this OS user (15 minutes idle by
default, a site setting), `bmac logout` ends it, BMAC_PIN still works for scripts; without
either a reading command exits 6 with the way forward. A session signs nothing."""

from __future__ import annotations

import json
import stat
from datetime import timedelta
from pathlib import Path

import pytest

from bmac_workflow.timeutil import utcnow
from tests.conftest import PINS, Bmac, Clinic

READS = (
    ("case", "status", "1"),
    ("case", "list"),
    ("case", "timeline", "1"),
    ("followup", "due"),
    ("audit", "replay", "1"),
    ("audit", "export", "1", "--format", "json"),
    ("report", "outcomes"),
    ("audit", "verify"),
    ("audit", "access"),
    ("trace", "lot", "K-1"),
    ("trace", "device", "CF-1", "--json"),
    ("deviation", "list"),
    ("deviation", "show", "1"),
    ("device", "list"),
)


@pytest.fixture
def nobody(clinic: Clinic, tmp_path: Path) -> Bmac:
    """`bmac` on the clinic's database with no session file at all."""
    clinic.open()
    return Bmac(clinic.url)


def fresh(tmp_path: Path) -> dict[str, str]:
    return {"BMAC_SESSION_DIR": str(tmp_path / "elsewhere")}


@pytest.mark.parametrize("args", READS, ids=" ".join)
def test_a_reading_command_without_a_session_or_pin_exits_6_with_the_way_forward(
    nobody: Bmac, tmp_path: Path, args: tuple[str, ...]
) -> None:
    result = nobody(*args, env=fresh(tmp_path))
    assert result.exit_code == 6, result.output
    assert "bmac login" in result.stderr and "BMAC_PIN" in result.stderr
    assert result.stdout == ""


def test_bmac_pin_signs_a_script_in_to_read_as_before(nobody: Bmac, tmp_path: Path) -> None:
    result = nobody("case", "status", "1", "--json", who="nurse", env=fresh(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["case_id"] == 1


def test_a_wrong_pin_for_reading_counts_toward_the_lock(nobody: Bmac, tmp_path: Path) -> None:
    for _ in range(5):
        assert nobody("case", "list", who="nurse", pin="999999", env=fresh(tmp_path)).exit_code == 6
    locked = nobody("case", "list", who="nurse", env=fresh(tmp_path))
    assert locked.exit_code == 6 and "locked" in locked.stderr


def test_login_reads_for_15_idle_minutes_then_exit_6_again(
    nobody: Bmac, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = fresh(tmp_path)
    login = nobody("login", env={**env, "BMAC_OPERATOR": "surgeon", "BMAC_PIN": PINS["surgeon"]})
    assert login.exit_code == 0, login.stderr
    assert "15 minutes idle" in login.stderr
    start = utcnow()
    for minutes in (0, 14, 28):  # each read starts the idle time again
        monkeypatch.setattr(
            "bmac_workflow.cli.app.utcnow", lambda m=minutes: start + timedelta(minutes=m)
        )
        assert nobody("case", "status", "1", env=env).exit_code == 0
    monkeypatch.setattr(
        "bmac_workflow.cli.app.utcnow", lambda: start + timedelta(minutes=43, seconds=1)
    )
    expired = nobody("case", "status", "1", env=env)
    assert expired.exit_code == 6
    assert "idle for more than 15 minutes" in expired.stderr and "bmac login" in expired.stderr


def test_the_idle_minutes_are_a_site_setting_an_admin_changes(
    nobody: Bmac, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    changed = nobody("settings", "set", "session_idle_minutes", "5", who="admin")
    assert changed.exit_code == 0, changed.stderr
    assert nobody("settings", "set", "session_idle_minutes", "61", who="admin").exit_code == 5
    env = fresh(tmp_path)
    assert (
        nobody("login", env={**env, "BMAC_OPERATOR": "nurse", "BMAC_PIN": PINS["nurse"]}).exit_code
        == 0
    )
    start = utcnow()
    monkeypatch.setattr("bmac_workflow.cli.app.utcnow", lambda: start + timedelta(minutes=6))
    assert nobody("case", "list", env=env).exit_code == 6


def test_the_session_file_is_readable_by_this_user_only_and_signs_nothing(
    nobody: Bmac, tmp_path: Path
) -> None:
    env = fresh(tmp_path)
    assert (
        nobody("login", env={**env, "BMAC_OPERATOR": "nurse", "BMAC_PIN": PINS["nurse"]}).exit_code
        == 0
    )
    (file,) = (tmp_path / "elsewhere").iterdir()
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert stat.S_IMODE(file.parent.stat().st_mode) == 0o700
    assert PINS["nurse"] not in file.read_text()
    # Writing still asks for the PIN at every signature: the session is no PIN.
    opened = nobody(
        "case",
        "open",
        "--patient",
        "P-0100",
        "--knee",
        "left",
        env={**env, "BMAC_OPERATOR": "nurse"},
    )
    assert opened.exit_code == 6 and "BMAC_PIN" in opened.stderr
    # A copy that others could read is not trusted.
    file.chmod(0o644)
    assert nobody("case", "list", env=env).exit_code == 6


def test_logout_ends_the_session_in_the_database_too(nobody: Bmac, tmp_path: Path) -> None:
    env = fresh(tmp_path)
    assert (
        nobody("login", env={**env, "BMAC_OPERATOR": "nurse", "BMAC_PIN": PINS["nurse"]}).exit_code
        == 0
    )
    (file,) = (tmp_path / "elsewhere").iterdir()
    kept = file.read_text()
    out = nobody("logout", env=env)
    assert out.exit_code == 0 and "signed out" in out.stderr
    assert nobody("case", "list", env=env).exit_code == 6
    file.write_text(kept)  # a copy taken before the logout no longer reads
    file.chmod(0o600)
    ended = nobody("case", "list", env=env)
    assert ended.exit_code == 6 and "ended (logout)" in ended.stderr


def test_login_with_a_wrong_pin_exits_6_and_leaves_no_session(nobody: Bmac, tmp_path: Path) -> None:
    env = fresh(tmp_path)
    result = nobody("login", env={**env, "BMAC_OPERATOR": "nurse", "BMAC_PIN": "999999"})
    assert result.exit_code == 6
    assert not (tmp_path / "elsewhere").exists()


def test_login_token_prints_a_read_only_token(nobody: Bmac, tmp_path: Path) -> None:
    result = nobody("login", "--token", who="auditor", env=fresh(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("bmac1.") and "valid until" in result.stderr
    assert not (tmp_path / "elsewhere").exists()
