"""argon2 runs a fraction of a second each at the real costs (keys.py): a command runs it once
per person who signs, and never otherwise. Counted through `bmac`, by wrapping the one argon2
call of the keys (`keys._kdf`: unsealing a key at sign-in, sealing one under a new PIN) and the
check of a PIN hash from before keys (`operators.pin_matches`)."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner, Result

from tests.conftest import Bmac, Clinic, advance_to
from tests.e2e.conftest import Counts
from tests.walk import PINS, step_args

OLD_DATABASE = Path(__file__).resolve().parents[1] / "fixtures" / "db-at-72fa156.sqlite3"


def test_a_step_runs_argon2_once(clinic: Clinic, bmac: Bmac, argon2: Counts) -> None:
    case_id = clinic.open()
    advance_to(clinic, case_id, "filtering")
    argon2.reset()
    result = bmac(*step_args("filter", case_id), who="nurse")
    assert result.exit_code == 0, result.stderr
    assert argon2 == {"checks": 1, "seals": 0}


def test_an_injection_with_its_verifier_runs_argon2_twice(
    clinic: Clinic, bmac: Bmac, argon2: Counts
) -> None:
    case_id = clinic.open()
    advance_to(clinic, case_id, "injection")
    argon2.reset()
    result = bmac(*step_args("inject", case_id), who="surgeon")  # the verifier: BMAC_VERIFIER_PIN
    assert result.exit_code == 0, result.stderr
    assert argon2 == {"checks": 2, "seals": 0}  # the surgeon's PIN and the verifier's


def test_an_auditors_checkpoint_runs_argon2_once(
    clinic: Clinic, bmac: Bmac, argon2: Counts
) -> None:
    clinic.open()
    argon2.reset()
    result = bmac("audit", "checkpoint", who="auditor")
    assert result.exit_code == 0, result.stderr
    assert argon2 == {"checks": 1, "seals": 0}


def test_reading_commands_run_no_argon2(clinic: Clinic, bmac: Bmac, argon2: Counts) -> None:
    case_id = clinic.open()
    argon2.reset()
    for args in (
        ("case", "status", str(case_id)),
        ("case", "timeline", str(case_id)),
        ("case", "list"),
        ("audit", "verify", "--full"),
    ):
        result = bmac(*args)  # in the reading session `bmac login` opened: no PIN to check
        assert result.exit_code == 0, (args, result.stderr)
    assert argon2 == {"checks": 0, "seals": 0}
    assert bmac("case", "list", who="nurse").exit_code == 0  # a script's BMAC_PIN: one run
    assert argon2 == {"checks": 1, "seals": 0}


def test_a_legacy_operators_first_sign_in_checks_the_pin_once_and_seals_their_new_key(
    tmp_path: Path, argon2: Counts
) -> None:
    """An operator of a database from before keys: their PIN is checked once, against the argon2
    hash it had (`pin_matches`), never by a key; the new key it gives them is sealed under their
    new PIN (1111 breaks today's rules), a second argon2 run that sealing cannot do without. The
    next command unseals that key: one run."""
    copy = tmp_path / "old.sqlite3"
    shutil.copyfile(OLD_DATABASE, copy)

    def bmac_old(*args: str, **env: str) -> Result:
        from bmac_workflow.cli import cli

        full_env = {"BMAC_DATABASE_URL": f"sqlite:///{copy}", "BMAC_OPERATOR": "nurse", **env}
        return CliRunner().invoke(cli, list(args), env=full_env, catch_exceptions=False)

    upgraded = bmac_old("db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.stderr
    assert argon2 == {"checks": 0, "seals": 0}
    opened = bmac_old(
        "case", "open", "--patient", "P-0100", "--knee", "left",
        BMAC_PIN="1111", BMAC_NEW_PIN=PINS["nurse"],
    )  # fmt: skip
    assert opened.exit_code == 0, opened.stderr
    assert argon2 == {"checks": 1, "seals": 1}
    argon2.reset()
    again = bmac_old(
        "case", "open", "--patient", "P-0101", "--knee", "left", BMAC_PIN=PINS["nurse"]
    )
    assert again.exit_code == 0, again.stderr
    assert argon2 == {"checks": 1, "seals": 0}
