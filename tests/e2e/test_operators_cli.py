"""`bmac operator ...`, sign-in, lockout and the second person, as a user sees them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, text

from bmac_workflow import keys, roles
from bmac_workflow.cli.app import App
from bmac_workflow.protocol import load
from bmac_workflow.timeutil import utcnow
from tests.conftest import PINS, Bmac, Clinic, add_operator_args, advance_to
from tests.walk import pin_of, step_args

# PINs that follow the PIN rules and that nobody in the test clinic has.
NEW_PIN = "731904"
CHOSEN_PIN = "592038"
WRONG_PIN = pin_of("nobody")


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
    from bmac_workflow.store.database import Database

    clock = Clock(utcnow())
    monkeypatch.setattr(App, "now", lambda self: clock.now)
    # On PostgreSQL the server's clock is the record's: it moves with the test's too.
    monkeypatch.setattr(Database, "server_time", lambda self: clock.now)
    yield clock


def public_key(engine: Engine, operator_id: str) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(
                text("SELECT public_key FROM operators WHERE id = :o"), {"o": operator_id}
            ).scalar_one()
        )


def registry_actions(engine: Engine) -> list[tuple[str, str]]:
    """(action, subject) of each act of the signed registry, in order."""
    with engine.connect() as conn:
        bodies = conn.execute(text("SELECT body FROM registry ORDER BY seq")).scalars()
        return [(b["action"], b["subject"]) for b in map(json.loads, bodies)]


# -- the first operator --------------------------------------------------------------------


def test_the_first_operator_of_an_empty_database_is_an_admin_added_without_sign_in(
    engine: Engine, db_url: str
) -> None:
    result = run(
        db_url,
        *add_operator_args("admin", "Admin Lee", "admin"),
        env={"BMAC_NEW_PIN": PINS["admin"]},
    )
    assert result.exit_code == 0, result.stderr
    added, root = result.stdout.strip().splitlines()
    assert added == "operator admin added: Admin Lee, admin"
    # The clinic's root key is printed, to be written down: the first admin's own key.
    fingerprint = keys.fingerprint(public_key(engine, "admin"))
    assert root.startswith("the clinic's root key") and root.endswith(": " + fingerprint)
    listed = run(db_url, "operator", "list", "--json")
    assert json.loads(listed.stdout) == [
        {
            "id": "admin",
            "name": "Admin Lee",
            "role": "admin",
            "active": True,
            "failed_pins": 0,
            "locked_until": None,
            "key": fingerprint,
            "must_change_pin": False,
        }
    ]
    assert PINS["admin"] not in result.stdout + result.stderr + listed.stdout
    # The shipped protocol is active at once, so that cases can open.
    protocols = json.loads(run(db_url, "protocol", "list", "--json").stdout)
    assert [(p["version"], p["active"], p["by"]) for p in protocols] == [
        (load(None).version, True, "admin")
    ]


def test_the_first_operator_cannot_be_anything_but_an_admin(engine: Engine, db_url: str) -> None:
    result = run(
        db_url,
        *add_operator_args("nurse.kim", "Kim", "nurse"),
        env={"BMAC_NEW_PIN": NEW_PIN},
    )
    assert result.exit_code == 5
    assert "must be an admin" in one_error_line(result)
    assert json.loads(run(db_url, "operator", "list", "--json").stdout) == []
    assert registry_actions(engine) == []


def test_after_the_first_operator_adding_one_needs_an_admin_signed_in(
    engine: Engine, db_url: str
) -> None:
    first = run(
        db_url,
        *add_operator_args("admin", "A", "admin"),
        env={"BMAC_NEW_PIN": PINS["admin"]},
    )
    assert first.exit_code == 0, first.stderr
    anonymous = run(
        db_url,
        *add_operator_args("admin2", "B", "admin"),
        env={"BMAC_NEW_PIN": NEW_PIN},
    )
    assert anonymous.exit_code == 6
    assert "--operator" in one_error_line(anonymous)
    signed = run(
        db_url,
        *add_operator_args("admin2", "B", "admin"),
        env={"BMAC_NEW_PIN": NEW_PIN, "BMAC_OPERATOR": "admin", "BMAC_PIN": PINS["admin"]},
    )
    assert signed.exit_code == 0, signed.stderr
    # Only the first operator's addition prints the root key.
    assert signed.stdout.strip() == "operator admin2 added: B, admin"
    assert registry_actions(engine) == [
        ("add", "admin"),
        ("protocol", load(None).sha256),
        ("add", "admin2"),
    ]


# -- managing operators ----------------------------------------------------------------------


def test_an_admin_adds_a_nurse_who_can_then_sign(bmac: Bmac, clinic: Clinic) -> None:
    added = bmac(
        *add_operator_args("nurse.kim", "Kim Ji-woo", "nurse"),
        who="admin",
        env={"BMAC_NEW_PIN": NEW_PIN},
    )
    assert added.exit_code == 0, added.stderr
    assert added.stdout.strip() == "operator nurse.kim added: Kim Ji-woo, nurse"
    kim = operators_json(bmac)["nurse.kim"]
    assert kim["key"] == keys.fingerprint(public_key(clinic.engine, "nurse.kim"))
    assert kim["must_change_pin"] is False
    opened = bmac(
        "case", "open", "--patient", "P-1", "--knee", "left", who="nurse.kim", pin=NEW_PIN
    )
    assert opened.exit_code == 0, opened.stderr


@pytest.mark.parametrize("who", ["nurse", "surgeon", "auditor"])
def test_only_an_admin_adds_operators(bmac: Bmac, clinic: Clinic, who: str) -> None:
    before = clinic.counts()
    result = bmac(
        *add_operator_args("x", "X", "admin"),
        who=who,
        env={"BMAC_NEW_PIN": NEW_PIN},
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
    result = bmac("operator", "add", "nurse", *args, who="admin", env={"BMAC_NEW_PIN": NEW_PIN})
    assert result.exit_code == code and message in one_error_line(result)
    assert clinic.counts() == before


def test_a_duplicate_id_is_refused_before_a_new_pin_is_asked(
    clinic: Clinic, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(App, "interactive", lambda self: True)
    before = clinic.counts()
    result = run(
        db_url,
        "--operator",
        "admin",
        *add_operator_args("nurse", "Another Nurse", "nurse"),
        input=PINS["admin"] + "\n",
    )
    assert "new PIN" not in result.stderr
    assert result.exit_code == 5
    prompt, error = result.stderr.strip().splitlines()
    assert prompt.startswith("PIN for admin") and error.startswith("error: ")
    assert "exists already" in error
    assert clinic.counts() == before


@pytest.mark.parametrize(
    ("new_pin", "message"),
    [
        ("9q", "6 to 128 characters"),
        ("735 184", "no spaces"),
        ("444444", "one character repeated"),
        ("345678", "run"),
        ("543210", "run"),
        ("890123", "run"),  # digits wrap around
        ("Kim.Lee", "operator's id"),
    ],
)
def test_a_new_pin_against_the_pin_rules_is_refused_without_echoing_it(
    bmac: Bmac, clinic: Clinic, new_pin: str, message: str
) -> None:
    before = clinic.counts()
    result = bmac(
        *add_operator_args("kim.lee", "Kim Lee", "nurse"),
        who="admin",
        env={"BMAC_NEW_PIN": new_pin},
    )
    assert result.exit_code == 5
    assert message in one_error_line(result)
    assert new_pin not in result.stderr + result.stdout
    assert clinic.counts() == before


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


def test_a_pin_reset_gives_a_new_key_lifts_a_lock_and_forces_a_new_pin(
    bmac: Bmac, clinic: Clinic
) -> None:
    open_case = ("case", "open", "--patient", "P-1", "--knee", "left")
    for _ in range(5):
        bmac(*open_case, who="nurse", pin=WRONG_PIN)
    before = operators_json(bmac)["nurse"]
    assert before["locked_until"] is not None
    registry = clinic.count("registry")
    reset = bmac("operator", "reset-pin", "nurse", who="admin", env={"BMAC_NEW_PIN": NEW_PIN})
    assert reset.exit_code == 0, reset.stderr
    assert NEW_PIN not in reset.stdout + reset.stderr
    after = operators_json(bmac)["nurse"]
    assert (after["locked_until"], after["failed_pins"], after["must_change_pin"]) == (
        None,
        0,
        True,
    )
    assert after["key"] != before["key"]  # a new key, sealed under the PIN the admin gave
    assert after["key"] == keys.fingerprint(public_key(clinic.engine, "nurse"))
    assert "must choose a new PIN" in bmac("operator", "list").stdout
    assert clinic.count("registry") == registry + 1
    # Her old PIN no longer opens anything.
    old = bmac(*open_case, who="nurse")
    assert old.exit_code == 6 and "wrong PIN" in one_error_line(old)
    # The PIN the admin gave signs her in only to choose her own: without one, refused.
    unchanged = bmac(*open_case, who="nurse", pin=NEW_PIN)
    assert unchanged.exit_code == 6
    line = one_error_line(unchanged)
    assert "new PIN" in line and "BMAC_NEW_PIN" in line and "terminal" in line
    assert NEW_PIN not in line
    assert clinic.count("cases") == 0
    assert operators_json(bmac)["nurse"]["must_change_pin"] is True
    # A new PIN against the rules is refused too.
    weak = bmac(*open_case, who="nurse", pin=NEW_PIN, env={"BMAC_NEW_PIN": "222222"})
    assert weak.exit_code == 5 and "222222" not in weak.stderr
    chosen = bmac(*open_case, who="nurse", pin=NEW_PIN, env={"BMAC_NEW_PIN": CHOSEN_PIN})
    assert chosen.exit_code == 0, chosen.stderr
    assert CHOSEN_PIN not in chosen.stdout + chosen.stderr
    assert operators_json(bmac)["nurse"]["must_change_pin"] is False
    assert clinic.count("cases") == 1
    # From now on her own PIN signs, and the admin's no longer does.
    assert bmac(*open_case, who="nurse", pin=CHOSEN_PIN).exit_code == 0
    assert bmac(*open_case, who="nurse", pin=NEW_PIN).exit_code == 6
    assert history(clinic, "nurse") == ["added", "locked", "pin_reset", "unlocked"]
    assert registry_actions(clinic.engine)[-2:] == [
        ("reset_pin", "nurse"),
        ("pin_changed", "nurse"),
    ]


def test_a_pin_reset_off_a_terminal_without_bmac_new_pin_is_a_usage_error(
    clinic: Clinic, db_url: str
) -> None:
    before = clinic.counts()
    result = run(
        db_url,
        "operator",
        "reset-pin",
        "nurse",
        env={"BMAC_OPERATOR": "admin", "BMAC_PIN": PINS["admin"]},
    )
    assert result.exit_code == 2
    assert "BMAC_NEW_PIN" in one_error_line(result)
    assert clinic.counts() == before


def test_on_a_terminal_a_new_pin_after_a_reset_is_asked_twice_without_echo(
    bmac: Bmac, clinic: Clinic, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    reset = bmac("operator", "reset-pin", "nurse", who="admin", env={"BMAC_NEW_PIN": NEW_PIN})
    assert reset.exit_code == 0, reset.stderr
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
        input=f"{NEW_PIN}\n{CHOSEN_PIN}\n{CHOSEN_PIN}\n",
    )
    assert result.exit_code == 0, result.stderr
    assert "new PIN for nurse" in result.stderr
    assert NEW_PIN not in result.stdout + result.stderr
    assert CHOSEN_PIN not in result.stdout + result.stderr
    again = bmac("case", "open", "--patient", "P-2", "--knee", "left", who="nurse", pin=CHOSEN_PIN)
    assert again.exit_code == 0, again.stderr


@pytest.mark.parametrize(
    ("who", "target", "code"), [("admin", "nobody", 3), ("surgeon", "nurse", 6)]
)
def test_a_pin_reset_is_refused_before_a_new_pin_is_taken(
    bmac: Bmac, clinic: Clinic, who: str, target: str, code: int
) -> None:
    before = clinic.counts()
    result = bmac("operator", "reset-pin", target, who=who, env={"BMAC_NEW_PIN": NEW_PIN})
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
    result = bmac("case", "open", "--patient", "P-1", "--knee", "left", who="nurse", pin=WRONG_PIN)
    assert result.exit_code == 6
    line = one_error_line(result)
    assert "wrong PIN" in line and WRONG_PIN not in line
    assert operators_json(bmac)["nurse"]["failed_pins"] == 1
    assert clinic.count("cases") == 0


def test_an_unknown_operator_cannot_sign_in(bmac: Bmac) -> None:
    result = bmac("case", "open", "--patient", "P-1", "--knee", "left", who="nobody")
    assert result.exit_code == 6
    assert "no operator 'nobody'" in one_error_line(result)


def test_five_wrong_pins_lock_until_the_clock_passes_the_period(
    bmac: Bmac, clinic: Clinic, clock: Clock
) -> None:
    open_case = ("case", "open", "--patient", "P-1", "--knee", "left")
    codes = [bmac(*open_case, who="nurse", pin=WRONG_PIN).exit_code for _ in range(5)]
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


def settings_in_force(bmac: Bmac) -> dict[str, int]:
    """Every site setting's value, as `bmac settings show` gives it."""
    result = bmac("settings", "show", "--json")
    assert result.exit_code == 0, result.stderr
    return {row["name"]: row["value"] for row in json.loads(result.stdout)}


def sign_in_limits(bmac: Bmac) -> dict[str, int]:
    """The two site settings of the sign-in lock."""
    found = settings_in_force(bmac)
    return {name: found[name] for name in ("max_failed_pins", "lock_minutes")}


def test_protocols_and_settings_in_a_pipe_are_one_plain_line_a_row_of_what_json_gives(
    bmac: Bmac,
) -> None:
    protocols = json.loads(bmac("protocol", "list", "--json").stdout)
    listed = bmac("protocol", "list")
    assert listed.exit_code == 0, listed.stderr
    assert [line.split()[:2] + line.split()[-2:] for line in listed.stdout.splitlines()] == [
        [p["version"], p["sha256"][:12], p["by"], "active" if p["active"] else "-"]
        for p in protocols
    ]
    settings = json.loads(bmac("settings", "show", "--json").stdout)
    shown = bmac("settings", "show")
    assert shown.exit_code == 0, shown.stderr
    assert [line.split(None, 4) for line in shown.stdout.splitlines()] == [
        [s["name"], str(s["value"]), str(s["default"]), f"{s['low']}-{s['high']}", s["what"]]
        for s in settings
    ]


def test_the_lock_limit_and_period_are_site_settings_an_admin_sets(
    bmac: Bmac, clinic: Clinic, clock: Clock
) -> None:
    for name, value in (("max_failed_pins", "3"), ("lock_minutes", "60")):
        registry = clinic.count("registry")
        result = bmac("settings", "set", name, value, who="admin")
        assert result.exit_code == 0, result.stderr
        assert result.stdout.strip() == f"{name} is now {value}"
        assert clinic.count("registry") == registry + 1  # a signed act of the registry
    assert sign_in_limits(bmac) == {"max_failed_pins": 3, "lock_minutes": 60}
    open_case = ("case", "open", "--patient", "P-1", "--knee", "left")
    assert [bmac(*open_case, who="nurse", pin=WRONG_PIN).exit_code for _ in range(3)] == [6] * 3
    locked = bmac(*open_case, who="nurse")
    assert locked.exit_code == 6 and "locked after 3 wrong PINs" in one_error_line(locked)
    clock.move(minutes=59)
    assert bmac(*open_case, who="nurse").exit_code == 6
    clock.move(minutes=2)
    opened = bmac(*open_case, who="nurse")
    assert opened.exit_code == 0, opened.stderr


@pytest.mark.parametrize(
    ("who", "name", "value", "code", "message"),
    [
        ("nurse", "lock_minutes", "30", 6, "may not change settings"),
        ("auditor", "max_failed_pins", "3", 6, "may not change settings"),
        ("admin", "max_failed_pins", "2", 5, "3 to 10"),
        ("admin", "lock_minutes", "61", 5, "1 to 60"),
        ("admin", "lock_minutes", "0", 5, "1 to 60"),
        ("admin", "lock_minutes", "ten", 5, "whole number"),
        ("admin", "no_such_setting", "3", 5, "no setting"),
        ("admin", "max_failed_pins", "5", 5, "already"),
    ],
)
def test_a_setting_is_changed_only_by_an_admin_and_within_its_bounds(
    bmac: Bmac, clinic: Clinic, who: str, name: str, value: str, code: int, message: str
) -> None:
    before, in_force = clinic.counts(), settings_in_force(bmac)
    result = bmac("settings", "set", name, value, who=who)
    assert result.exit_code == code
    assert message in one_error_line(result)
    assert clinic.counts() == before
    assert settings_in_force(bmac) == in_force


def test_a_protocol_file_cannot_carry_the_sign_in_limits(
    bmac: Bmac, clinic: Clinic, tmp_path: Any
) -> None:
    from bmac_workflow.protocol import default_text

    strict = tmp_path / "strict.toml"
    strict.write_text(
        default_text().replace(load(None).version, "strict-2026.1")
        + "\n[signing]\nmax_failed_pins = 2\nlock_minutes = 60\n"
    )
    before, in_force = clinic.counts(), settings_in_force(bmac)
    activated = bmac("protocol", "activate", str(strict), who="admin")
    assert activated.exit_code == 5
    line = one_error_line(activated)
    assert "[signing]" in line and "bmac settings set" in line
    opened = bmac(
        "--protocol", str(strict), "case", "open", "--patient", "P-1", "--knee", "left", who="nurse"
    )
    assert opened.exit_code == 5
    assert "[signing]" in one_error_line(opened)
    assert clinic.counts() == before
    assert settings_in_force(bmac) == in_force
    assert sign_in_limits(bmac) == {"max_failed_pins": 5, "lock_minutes": 15}
    # The limits in force are still the settings': five wrong PINs, not two, lock.
    open_case = ("case", "open", "--patient", "P-1", "--knee", "left")
    codes = [bmac(*open_case, who="nurse", pin=WRONG_PIN).exit_code for _ in range(2)]
    assert codes == [6, 6]
    assert operators_json(bmac)["nurse"]["locked_until"] is None


# -- roles and locks ------------------------------------------------------------------------


def test_an_admin_gives_a_nurse_the_surgeon_role_and_her_earlier_entries_keep_hers(
    bmac: Bmac, clinic: Clinic
) -> None:
    case_id = clinic.open(who="nurse")
    refused = bmac(*step_args("assess", case_id), who="nurse")
    assert refused.exit_code == 6 and "may not assess" in one_error_line(refused)
    registry = clinic.count("registry")
    result = bmac("operator", "set-role", "nurse", "--role", "surgeon", who="admin")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "operator nurse is now surgeon"
    assert clinic.count("registry") == registry + 1
    assert registry_actions(clinic.engine)[-1] == ("role", "nurse")
    assert operators_json(bmac)["nurse"]["role"] == "surgeon"
    assessed = bmac(*step_args("assess", case_id), who="nurse")
    assert assessed.exit_code == 0, assessed.stderr
    timeline = json.loads(bmac("case", "timeline", str(case_id), "--json").stdout)
    assert [(row["operator"], row["role"]) for row in timeline] == [
        ("nurse", "nurse"),  # the opening, signed while she was a nurse
        ("nurse", "surgeon"),
    ]
    assert history(clinic, "nurse") == ["added", "role"]
    verified = bmac("audit", "verify", str(case_id))
    assert verified.exit_code == 0, verified.stdout + verified.stderr


@pytest.mark.parametrize(
    ("who", "args", "code", "message"),
    [
        ("nurse", ("nurse2", "--role", "surgeon"), 6, "may not manage operators"),
        ("surgeon", ("surgeon", "--role", "admin"), 6, "may not manage operators"),
        ("auditor", ("nurse", "--role", "surgeon"), 6, "may not manage operators"),
        ("admin", ("nobody", "--role", "surgeon"), 3, "no operator"),
        ("admin", ("nurse", "--role", "nurse"), 5, "already"),
        ("admin", ("admin", "--role", "nurse"), 5, "own role"),
    ],
    ids=["a-nurse", "a-surgeon-on-themselves", "an-auditor", "unknown", "same-role", "oneself"],
)
def test_a_role_change_is_refused_to_a_non_admin_an_unknown_target_or_no_change(
    bmac: Bmac, clinic: Clinic, who: str, args: tuple[str, ...], code: int, message: str
) -> None:
    before = clinic.counts()
    result = bmac("operator", "set-role", *args, who=who)
    assert result.exit_code == code
    assert message in one_error_line(result)
    assert clinic.counts() == before
    assert {k: v["role"] for k, v in operators_json(bmac).items()} == {
        "admin": "admin",
        "nurse": "nurse",
        "nurse2": "nurse",
        "surgeon": "surgeon",
        "auditor": "auditor",
        "qa": "qa",
    }


def test_a_role_change_names_a_known_role() -> None:
    from bmac_workflow.cli import cli

    result = CliRunner().invoke(cli, ["operator", "set-role", "nurse", "--role", "chief"])
    assert result.exit_code == 2
    assert "chief" in result.stderr


def test_an_admin_unlocks_a_locked_operator_before_the_period_ends(
    bmac: Bmac, clinic: Clinic
) -> None:
    open_case = ("case", "open", "--patient", "P-1", "--knee", "left")
    for _ in range(5):
        bmac(*open_case, who="nurse", pin=WRONG_PIN)
    assert bmac(*open_case, who="nurse").exit_code == 6  # locked
    registry = clinic.count("registry")
    result = bmac("operator", "unlock", "nurse", who="admin")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "operator nurse unlocked"
    assert clinic.count("registry") == registry + 1
    assert registry_actions(clinic.engine)[-1] == ("unlock", "nurse")
    listed = operators_json(bmac)["nurse"]
    assert (listed["locked_until"], listed["failed_pins"]) == (None, 0)
    opened = bmac(*open_case, who="nurse")
    assert opened.exit_code == 0, opened.stderr
    assert history(clinic, "nurse") == ["added", "locked", "unlocked"]
    # Her key and PIN are untouched: no new PIN to choose.
    assert listed["must_change_pin"] is False


@pytest.mark.parametrize(
    ("who", "target", "code", "message"),
    [
        ("nurse", "nurse2", 6, "may not manage operators"),
        ("surgeon", "nurse2", 6, "may not manage operators"),
        ("auditor", "nurse2", 6, "may not manage operators"),
        ("admin", "nobody", 3, "no operator"),
        ("admin", "nurse", 5, "not locked"),
    ],
)
def test_an_unlock_is_refused_to_a_non_admin_an_unknown_or_unlocked_target(
    bmac: Bmac, clinic: Clinic, who: str, target: str, code: int, message: str
) -> None:
    for _ in range(5):
        bmac("case", "open", "--patient", "P-1", "--knee", "left", who="nurse2", pin=WRONG_PIN)
    before = clinic.counts()
    result = bmac("operator", "unlock", target, who=who)
    assert result.exit_code == code
    assert message in one_error_line(result)
    assert clinic.counts() == before
    assert operators_json(bmac)["nurse2"]["locked_until"] is not None


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
    listed = operators_json(bmac)
    assert entry["key"] == listed["surgeon"]["key"]
    assert entry["verifier"] == {
        "operator": "nurse2",
        "operator_name": "Nurse2 Name",
        "role": "nurse",
        "meaning": "verified",
        "key": listed["nurse2"]["key"],  # the fingerprint of the key that signed
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
    result = inject(bmac, ready, "nurse2", WRONG_PIN)
    assert result.exit_code == 6
    line = one_error_line(result)
    assert "wrong PIN for operator nurse2" in line and WRONG_PIN not in line
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
    assert header.split()[:6] == ["action", "nurse", "surgeon", "auditor", "admin", "qa"]
    for action, allowed in roles.permissions().items():
        row = next(r for r in rows if r.split()[:1] == [action])
        marks = row.split()[1:6]
        assert marks == ["yes" if r in allowed else "-" for r in roles.ROLES], action
    as_json = json.loads(CliRunner().invoke(cli, ["operator", "roles", "--json"]).stdout)
    assert {row["action"]: set(row["roles"]) for row in as_json} == roles.permissions()
