"""`bmac operator ...`, sign-in, lockout and the second person, as a user sees them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, text

from bmac_workflow import roles
from bmac_workflow.cli.app import App
from bmac_workflow.timeutil import utcnow
from tests.conftest import PINS, Bmac, Clinic, add_operator_args, advance_to
from tests.walk import step_args


def run(
    url: str, *args: str, env: dict[str, str | None] | None = None, input: str | None = None
) -> Result:
    """`bmac` with exactly the environment given (None unsets a variable)."""
    from bmac_workflow.cli import cli

    base: dict[str, str | None] = {
        "BMAC_DATABASE_URL": url,
        "BMAC_OPERATOR": None,
        "BMAC_PIN": None,
        "BMAC_VERIFIER_PIN": None,
        "BMAC_NEW_PIN": None,
    }
    return CliRunner().invoke(
        cli, list(args), env={**base, **(env or {})}, input=input, catch_exceptions=False
    )


def operators_json(bmac: Bmac) -> dict[str, dict[str, Any]]:
    result = bmac("operator", "list", "--json")
    assert result.exit_code == 0, result.stderr
    return {row["id"]: row for row in json.loads(result.stdout)}


def history(clinic: Clinic, operator_id: str) -> list[str]:
    with clinic.engine.connect() as conn:
        return list(
            conn.execute(
                text("SELECT action FROM operator_events WHERE operator_id = :o ORDER BY id"),
                {"o": operator_id},
            ).scalars()
        )


def one_error_line(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


class Clock:
    """The time `App.now()` returns, moved by the test instead of sleeping."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def move(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    clock = Clock(utcnow())
    monkeypatch.setattr(App, "now", lambda self: clock.now)
    yield clock


# -- the first operator --------------------------------------------------------------------


def test_the_first_operator_of_an_empty_database_is_an_admin_added_without_sign_in(
    engine: Engine, db_url: str
) -> None:
    result = run(
        db_url,
        *add_operator_args("admin", "Admin Lee", "admin"),
        env={"BMAC_NEW_PIN": "2468"},
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "operator admin added: Admin Lee, admin"
    listed = run(db_url, "operator", "list", "--json")
    assert json.loads(listed.stdout) == [
        {
            "id": "admin",
            "name": "Admin Lee",
            "role": "admin",
            "active": True,
            "failed_pins": 0,
            "locked_until": None,
        }
    ]


def test_the_first_operator_cannot_be_anything_but_an_admin(engine: Engine, db_url: str) -> None:
    result = run(
        db_url,
        *add_operator_args("nurse.kim", "Kim", "nurse"),
        env={"BMAC_NEW_PIN": "2468"},
    )
    assert result.exit_code == 5
    assert "must be an admin" in one_error_line(result)
    assert json.loads(run(db_url, "operator", "list", "--json").stdout) == []


def test_after_the_first_operator_adding_one_needs_an_admin_signed_in(
    engine: Engine, db_url: str
) -> None:
    run(
        db_url,
        *add_operator_args("admin", "A", "admin"),
        env={"BMAC_NEW_PIN": "2468"},
    )
    anonymous = run(
        db_url,
        *add_operator_args("admin2", "B", "admin"),
        env={"BMAC_NEW_PIN": "1357"},
    )
    assert anonymous.exit_code == 6
    assert "--operator" in one_error_line(anonymous)
    signed = run(
        db_url,
        *add_operator_args("admin2", "B", "admin"),
        env={"BMAC_NEW_PIN": "1357", "BMAC_OPERATOR": "admin", "BMAC_PIN": "2468"},
    )
    assert signed.exit_code == 0, signed.stderr


# -- managing operators ----------------------------------------------------------------------


def test_an_admin_adds_a_nurse_who_can_then_sign(bmac: Bmac) -> None:
    added = bmac(
        *add_operator_args("nurse.kim", "Kim Ji-woo", "nurse"),
        who="admin",
        env={"BMAC_NEW_PIN": "1357"},
    )
    assert added.exit_code == 0, added.stderr
    opened = bmac("case", "open", "--patient", "P-1", "--knee", "left", who="nurse.kim", pin="1357")
    assert opened.exit_code == 0, opened.stderr


@pytest.mark.parametrize("who", ["nurse", "surgeon", "auditor"])
def test_only_an_admin_adds_operators(bmac: Bmac, clinic: Clinic, who: str) -> None:
    before = clinic.counts()
    result = bmac(
        *add_operator_args("x", "X", "admin"),
        who=who,
        env={"BMAC_NEW_PIN": "1357"},
    )
    assert result.exit_code == 6
    assert "may not manage operators" in one_error_line(result)
    assert clinic.counts() == before


def test_adding_an_operator_without_a_new_pin_is_a_usage_error_before_sign_in(
    clinic: Clinic, db_url: str
) -> None:
    result = run(
        db_url,
        *add_operator_args("x", "X", "nurse"),
        env={"BMAC_OPERATOR": "admin", "BMAC_PIN": "wrong"},
    )
    assert result.exit_code == 2
    assert "BMAC_NEW_PIN" in one_error_line(result)
    assert operators_json(Bmac(db_url))["admin"]["failed_pins"] == 0


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--name", "X", "--role", "nurse"), 5, "exists already"),
        (("--name", " ", "--role", "nurse"), 5, "printed name"),
    ],
)
def test_a_duplicate_id_or_an_empty_name_is_refused(
    bmac: Bmac, clinic: Clinic, args: tuple[str, ...], code: int, message: str
) -> None:
    before = clinic.counts()
    result = bmac("operator", "add", "nurse", *args, who="admin", env={"BMAC_NEW_PIN": "1357"})
    assert result.exit_code == code and message in one_error_line(result)
    assert clinic.counts() == before


def test_a_new_pin_that_is_too_short_is_refused_without_echoing_it(bmac: Bmac) -> None:
    result = bmac(
        *add_operator_args("x", "X", "nurse"),
        who="admin",
        env={"BMAC_NEW_PIN": "9q"},
    )
    assert result.exit_code == 5
    assert "9q" not in result.stderr + result.stdout


def test_a_deactivated_operator_keeps_their_history_and_can_no_longer_sign(
    bmac: Bmac, clinic: Clinic
) -> None:
    case = bmac("case", "open", "--patient", "P-1", "--knee", "left", who="nurse").stdout.strip()
    result = bmac("operator", "deactivate", "nurse", who="admin")
    assert result.exit_code == 0, result.stderr
    refused = bmac("case", "open", "--patient", "P-2", "--knee", "left", who="nurse")
    assert refused.exit_code == 6 and "deactivated" in one_error_line(refused)
    timeline = json.loads(bmac("case", "timeline", case, "--json").stdout)
    assert timeline[0]["operator"] == "nurse" and timeline[0]["operator_name"] == "Nurse Name"
    assert operators_json(bmac)["nurse"]["active"] is False
    assert "Nurse Name    deactivated" in bmac("operator", "list").stdout
    assert history(clinic, "nurse") == ["added", "deactivated"]


@pytest.mark.parametrize(
    ("who", "target", "code"),
    [
        ("admin", "nobody", 3),
        ("admin", "admin", 5),
        ("nurse", "nurse2", 6),
        ("auditor", "nurse", 6),
    ],
    ids=["unknown-operator", "the-admin-themselves", "a-nurse", "an-auditor"],
)
def test_deactivation_is_refused_for_an_unknown_target_oneself_or_a_non_admin(
    bmac: Bmac, clinic: Clinic, who: str, target: str, code: int
) -> None:
    before = clinic.counts()
    result = bmac("operator", "deactivate", target, who=who)
    assert result.exit_code == code
    one_error_line(result)
    assert clinic.counts() == before


def test_a_pin_reset_replaces_the_pin_and_lifts_a_lock(bmac: Bmac, clinic: Clinic) -> None:
    for _ in range(5):
        bmac("case", "open", "--patient", "P-1", "--knee", "left", who="nurse", pin="0000")
    assert operators_json(bmac)["nurse"]["locked_until"] is not None
    reset = bmac("operator", "reset-pin", "nurse", who="admin", env={"BMAC_NEW_PIN": "8642"})
    assert reset.exit_code == 0, reset.stderr
    old = bmac("case", "open", "--patient", "P-1", "--knee", "left", who="nurse")
    assert old.exit_code == 6
    new = bmac("case", "open", "--patient", "P-1", "--knee", "left", who="nurse", pin="8642")
    assert new.exit_code == 0, new.stderr
    assert history(clinic, "nurse") == ["added", "locked", "pin_reset", "unlocked"]


@pytest.mark.parametrize(
    ("who", "target", "code"), [("admin", "nobody", 3), ("surgeon", "nurse", 6)]
)
def test_a_pin_reset_is_refused_before_a_new_pin_is_taken(
    bmac: Bmac, clinic: Clinic, who: str, target: str, code: int
) -> None:
    before = clinic.counts()
    result = bmac("operator", "reset-pin", target, who=who, env={"BMAC_NEW_PIN": "8642"})
    assert result.exit_code == code
    one_error_line(result)
    assert clinic.counts() == before


# -- sign-in at the command line --------------------------------------------------------------


def test_a_writing_command_without_an_operator_is_refused(clinic: Clinic, db_url: str) -> None:
    result = run(
        db_url,
        "case",
        "open",
        "--patient",
        "P-1",
        "--knee",
        "left",
        env={"BMAC_PIN": PINS["nurse"]},
    )
    assert result.exit_code == 6
    assert "BMAC_OPERATOR" in one_error_line(result)


def test_a_writing_command_without_a_pin_off_a_terminal_says_to_set_bmac_pin(
    clinic: Clinic, db_url: str
) -> None:
    result = run(
        db_url, "case", "open", "--patient", "P-1", "--knee", "left", env={"BMAC_OPERATOR": "nurse"}
    )
    assert result.exit_code == 6
    assert "BMAC_PIN" in one_error_line(result)
    assert clinic.count("cases") == 0


def test_an_empty_bmac_pin_is_no_pin_and_does_not_count_as_a_wrong_one(
    clinic: Clinic, db_url: str
) -> None:
    result = run(
        db_url,
        "case",
        "open",
        "--patient",
        "P-1",
        "--knee",
        "left",
        env={"BMAC_OPERATOR": "nurse", "BMAC_PIN": ""},
    )
    assert result.exit_code == 6
    assert "set BMAC_PIN" in one_error_line(result)
    assert operators_json(Bmac(db_url))["nurse"]["failed_pins"] == 0


def test_on_a_terminal_the_pin_is_asked_without_echo(
    clinic: Clinic, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(App, "interactive", lambda self: True)
    result = run(
        db_url,
        "--operator",
        "nurse",
        "case",
        "open",
        "--patient",
        "P-1",
        "--knee",
        "left",
        input=PINS["nurse"] + "\n",
    )
    assert result.exit_code == 0, result.stderr
    assert "PIN for nurse" in result.stderr
    assert PINS["nurse"] not in result.stdout + result.stderr


def test_a_wrong_pin_exits_6_and_its_count_is_kept(bmac: Bmac, clinic: Clinic) -> None:
    result = bmac("case", "open", "--patient", "P-1", "--knee", "left", who="nurse", pin="0000")
    assert result.exit_code == 6
    line = one_error_line(result)
    assert "wrong PIN" in line and "0000" not in line
    assert operators_json(bmac)["nurse"]["failed_pins"] == 1
    assert clinic.count("cases") == 0


def test_an_unknown_operator_cannot_sign_in(bmac: Bmac) -> None:
    result = bmac("case", "open", "--patient", "P-1", "--knee", "left", who="nobody", pin="1234")
    assert result.exit_code == 6
    assert "no operator 'nobody'" in one_error_line(result)


def test_five_wrong_pins_lock_until_the_clock_passes_the_period(
    bmac: Bmac, clinic: Clinic, clock: Clock
) -> None:
    open_case = ("case", "open", "--patient", "P-1", "--knee", "left")
    codes = [bmac(*open_case, who="nurse", pin="0000").exit_code for _ in range(5)]
    assert codes == [6] * 5
    locked = bmac(*open_case, who="nurse")
    assert locked.exit_code == 6
    assert "locked after 5 wrong PINs" in one_error_line(locked)
    assert "locked until" in bmac("operator", "list").stdout
    clock.move(minutes=14, seconds=59)
    assert bmac(*open_case, who="nurse").exit_code == 6
    clock.move(seconds=2)
    assert "locked until" not in bmac("operator", "list").stdout
    opened = bmac(*open_case, who="nurse")
    assert opened.exit_code == 0, opened.stderr
    assert history(clinic, "nurse") == ["added", "locked", "unlocked"]
    assert clinic.count("cases") == 1


def test_the_lock_period_is_read_from_the_protocol_file(
    bmac: Bmac, clinic: Clinic, clock: Clock, tmp_path: Any
) -> None:
    from bmac_workflow.protocol import default_text

    strict = tmp_path / "strict.toml"
    strict.write_text(
        default_text()
        .replace("max_failed_pins = 5", "max_failed_pins = 2")
        .replace("lock_minutes = 15", "lock_minutes = 60")
    )
    args = ("--protocol", str(strict), "case", "open", "--patient", "P-1", "--knee", "left")
    assert [bmac(*args, who="nurse", pin="0000").exit_code for _ in range(2)] == [6, 6]
    clock.move(minutes=59)
    assert bmac(*args, who="nurse").exit_code == 6
    clock.move(minutes=2)
    assert bmac(*args, who="nurse").exit_code == 0


# -- the second person at the injection -------------------------------------------------------


@pytest.fixture
def ready(clinic: Clinic) -> str:
    case_id = clinic.open()
    advance_to(clinic, case_id, "injection")
    return str(case_id)


def inject(bmac: Bmac, case: str, verifier: str, verifier_pin: str) -> Result:
    return bmac(
        *step_args("inject", int(case), verifier_id=verifier),
        who="surgeon",
        env={"BMAC_VERIFIER_PIN": verifier_pin},
    )


def test_an_injection_carries_both_signatures(bmac: Bmac, ready: str) -> None:
    result = inject(bmac, ready, "nurse2", PINS["nurse2"])
    assert result.exit_code == 0, result.stderr
    entry = json.loads(bmac("case", "timeline", ready, "--json").stdout)[-1]
    assert (entry["operator"], entry["role"], entry["meaning"]) == (
        "surgeon",
        "surgeon",
        "performed",
    )
    assert entry["verifier"] == {
        "operator": "nurse2",
        "operator_name": "Nurse2 Name",
        "role": "nurse",
        "meaning": "verified",
    }


def test_the_operator_as_their_own_verifier_is_refused(
    bmac: Bmac, clinic: Clinic, ready: str
) -> None:
    before = clinic.counts()
    result = inject(bmac, ready, "surgeon", PINS["surgeon"])
    assert result.exit_code == 6
    assert "verifier" in one_error_line(result)
    assert clinic.counts() == before


def test_an_inactive_verifier_is_refused(bmac: Bmac, clinic: Clinic, ready: str) -> None:
    assert bmac("operator", "deactivate", "nurse2", who="admin").exit_code == 0
    before = clinic.counts()
    result = inject(bmac, ready, "nurse2", PINS["nurse2"])
    assert result.exit_code == 6
    assert "nurse2 is deactivated" in one_error_line(result)
    assert clinic.counts() == before


def test_a_wrong_verifier_pin_is_refused_and_counts_against_the_verifier(
    bmac: Bmac, clinic: Clinic, ready: str
) -> None:
    before = clinic.counts()
    result = inject(bmac, ready, "nurse2", "0000")
    assert result.exit_code == 6
    line = one_error_line(result)
    assert "wrong PIN for operator nurse2" in line and "0000" not in line
    assert clinic.counts() == before
    ops = operators_json(bmac)
    assert (ops["nurse2"]["failed_pins"], ops["surgeon"]["failed_pins"]) == (1, 0)


def test_a_missing_verifier_pin_off_a_terminal_says_to_set_bmac_verifier_pin(
    clinic: Clinic, db_url: str, ready: str
) -> None:
    result = run(
        db_url,
        *step_args("inject", int(ready)),
        env={"BMAC_OPERATOR": "surgeon", "BMAC_PIN": PINS["surgeon"]},
    )
    assert result.exit_code == 6
    assert "BMAC_VERIFIER_PIN" in one_error_line(result)


@pytest.mark.parametrize("verifier", ["auditor", "admin"])
def test_an_auditor_or_admin_cannot_verify_an_injection(
    bmac: Bmac, clinic: Clinic, ready: str, verifier: str
) -> None:
    before = clinic.counts()
    result = inject(bmac, ready, verifier, PINS[verifier])
    assert result.exit_code == 6
    assert "nurse or surgeon" in one_error_line(result)
    assert clinic.counts() == before


# -- what the record shows ---------------------------------------------------------------------


def test_the_timeline_shows_each_signers_printed_name_role_and_meaning(
    bmac: Bmac, clinic: Clinic
) -> None:
    case_id = clinic.open()
    advance_to(clinic, case_id, "follow_up")
    clinic.fire(case_id, "close", who="surgeon", reason="moved abroad")
    rows = json.loads(bmac("case", "timeline", str(case_id), "--json").stdout)
    assert all(row["operator_name"] and row["role"] and row["meaning"] for row in rows)
    lines = [
        line
        for line in bmac("case", "timeline", str(case_id)).stdout.splitlines()
        if not line.startswith("     ")
    ]
    assert len(lines) == len(rows) == 9
    for line, row in zip(lines, rows, strict=True):
        assert (
            f"{row['operator_name']} ({row['operator']}, {row['role']}, {row['meaning']})" in line
        )
    inject_line = lines[7]
    assert "verified by Nurse2 Name (nurse2, nurse)" in inject_line


def test_the_roles_command_prints_the_matrix_that_is_enforced() -> None:
    from bmac_workflow.cli import cli

    text_out = CliRunner().invoke(cli, ["operator", "roles"]).stdout
    header, *rows = text_out.splitlines()
    assert header.split()[:5] == ["action", "nurse", "surgeon", "auditor", "admin"]
    for action, allowed in roles.permissions().items():
        row = next(r for r in rows if r.split()[:1] == [action])
        marks = row.split()[1:5]
        assert marks == ["yes" if r in allowed else "-" for r in roles.ROLES], action
    as_json = json.loads(CliRunner().invoke(cli, ["operator", "roles", "--json"]).stdout)
    assert {row["action"]: set(row["roles"]) for row in as_json} == roles.permissions()
