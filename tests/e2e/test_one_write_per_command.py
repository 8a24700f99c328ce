"""A writing command is one service call that writes in one unit of work: sign-in, the checks,
the verifier's sign-in and the step itself; and one argon2 run checks each signer's PIN (it
unseals their key: keys.py), with one more only when a new PIN seals the key again."""

from __future__ import annotations

from typing import Any

import pytest

from bmac_workflow import keys, operators
from bmac_workflow.store.database import Database
from tests.conftest import Bmac, Clinic, advance_to
from tests.walk import pin_of, step_args


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many write units of work were opened, and how many argon2 runs a PIN cost: each
    derivation of a key from a PIN (keys._kdf), and each check of a PIN hash from before keys
    (operators.pin_matches, where the sign-in looks it up)."""
    counts = {"writes": 0, "argon2 runs": 0}
    write, kdf, matches = Database.write, keys._kdf, operators.pin_matches

    def counting_write(self: Database) -> Any:
        counts["writes"] += 1
        return write(self)

    def counting_kdf(pin: str, salt: bytes, cost: keys.KdfCost) -> bytes:
        counts["argon2 runs"] += 1
        return kdf(pin, salt, cost)

    def counting_matches(pin_hash: str, pin: str) -> bool:
        counts["argon2 runs"] += 1
        return matches(pin_hash, pin)

    monkeypatch.setattr(Database, "write", counting_write)
    monkeypatch.setattr(keys, "_kdf", counting_kdf)
    monkeypatch.setattr(operators, "pin_matches", counting_matches)
    monkeypatch.setattr("bmac_workflow.services.signing.pin_matches", counting_matches)
    return counts


def reset(counted: dict[str, int]) -> None:
    counted.update({"writes": 0, "argon2 runs": 0})


def test_an_injection_is_one_write_and_one_argon2_run_per_signer(
    clinic: Clinic, bmac: Bmac, counted: dict[str, int]
) -> None:
    case_id = clinic.open()
    advance_to(clinic, case_id, "injection")
    reset(counted)
    result = bmac(*step_args("inject", case_id), who="surgeon")
    assert result.exit_code == 0, result.stderr
    assert counted == {"writes": 1, "argon2 runs": 2}  # the surgeon's and the verifier's


def test_a_processing_step_is_one_write(
    clinic: Clinic, bmac: Bmac, counted: dict[str, int]
) -> None:
    case_id = clinic.open()
    advance_to(clinic, case_id, "filtering")
    reset(counted)
    result = bmac(*step_args("filter", case_id), who="nurse")
    assert result.exit_code == 0, result.stderr
    assert counted == {"writes": 1, "argon2 runs": 1}


def test_a_refused_step_writes_only_what_the_sign_in_changed(
    clinic: Clinic, bmac: Bmac, counted: dict[str, int]
) -> None:
    case_id = clinic.open()
    advance_to(clinic, case_id, "filtering")
    reset(counted)
    wrong = bmac(*step_args("filter", case_id), who="nurse", pin=pin_of("nobody"))
    assert wrong.exit_code == 6
    assert counted == {"writes": 1, "argon2 runs": 1}  # the wrong PIN is counted, nothing else


def test_a_step_that_chooses_a_new_pin_is_still_one_write(
    clinic: Clinic, bmac: Bmac, counted: dict[str, int]
) -> None:
    case_id = clinic.open()
    advance_to(clinic, case_id, "filtering")
    given, chosen = "731904", "592038"
    reset_pin = bmac("operator", "reset-pin", "nurse", who="admin", env={"BMAC_NEW_PIN": given})
    assert reset_pin.exit_code == 0, reset_pin.stderr
    reset(counted)
    result = bmac(
        *step_args("filter", case_id), who="nurse", pin=given, env={"BMAC_NEW_PIN": chosen}
    )
    assert result.exit_code == 0, result.stderr
    # One run unseals her key under the PIN the admin gave, one seals it under hers; the new
    # PIN, the step and the registry's act are written together.
    assert counted == {"writes": 1, "argon2 runs": 2}
