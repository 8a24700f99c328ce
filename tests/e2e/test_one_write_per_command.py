"""A writing command is one service call that writes in one unit of work: sign-in, the checks,
the verifier's sign-in and the step itself; and one argon2 run checks each signer's PIN."""

from __future__ import annotations

from typing import Any

import pytest

from bmac_workflow import operators
from bmac_workflow.store.database import Database
from tests.conftest import Bmac, Clinic, advance_to
from tests.walk import step_args


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many write units of work were opened, and how many PIN checks ran."""
    counts = {"writes": 0, "pin checks": 0}
    write, matches = Database.write, operators.pin_matches

    def counting_write(self: Database) -> Any:
        counts["writes"] += 1
        return write(self)

    def counting_matches(pin_hash: str, pin: str) -> bool:
        counts["pin checks"] += 1
        return matches(pin_hash, pin)

    monkeypatch.setattr(Database, "write", counting_write)
    monkeypatch.setattr(operators, "pin_matches", counting_matches)
    monkeypatch.setattr("bmac_workflow.services.signing.pin_matches", counting_matches)
    return counts


def test_an_injection_is_one_write_and_one_pin_check_per_signer(
    clinic: Clinic, bmac: Bmac, counted: dict[str, int]
) -> None:
    case_id = clinic.open()
    advance_to(clinic, case_id, "injection")
    counted.update(writes=0, **{"pin checks": 0})
    result = bmac(*step_args("inject", case_id), who="surgeon")
    assert result.exit_code == 0, result.stderr
    assert counted == {"writes": 1, "pin checks": 2}  # the surgeon's and the verifier's


def test_a_processing_step_is_one_write(
    clinic: Clinic, bmac: Bmac, counted: dict[str, int]
) -> None:
    case_id = clinic.open()
    advance_to(clinic, case_id, "filtering")
    counted.update(writes=0, **{"pin checks": 0})
    result = bmac(*step_args("filter", case_id), who="nurse")
    assert result.exit_code == 0, result.stderr
    assert counted == {"writes": 1, "pin checks": 1}


def test_a_refused_step_writes_only_what_the_sign_in_changed(
    clinic: Clinic, bmac: Bmac, counted: dict[str, int]
) -> None:
    case_id = clinic.open()
    advance_to(clinic, case_id, "filtering")
    counted.update(writes=0, **{"pin checks": 0})
    wrong = bmac(*step_args("filter", case_id), who="nurse", pin="0000")
    assert wrong.exit_code == 6
    assert counted == {"writes": 1, "pin checks": 1}  # the wrong PIN is counted, nothing else
