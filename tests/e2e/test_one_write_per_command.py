"""A writing command is one service call that writes in one unit of work: sign-in, the checks,
the verifier's sign-in and the step itself; and one argon2 run checks each signer's PIN (it
unseals their key: keys.py), with one more only when a new PIN seals the key again."""

from __future__ import annotations

from typing import Any

import pytest

from bmac_workflow.store.database import Database
from tests.conftest import Bmac, Clinic, advance_to
from tests.e2e.conftest import Counts
from tests.walk import pin_of, step_args


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> Counts:
    """How many write units of work were opened."""
    counts = Counts(writes=0)
    write = Database.write

    def counting_write(self: Database) -> Any:
        counts["writes"] += 1
        return write(self)

    monkeypatch.setattr(Database, "write", counting_write)
    return counts


@pytest.mark.parametrize(
    ("state", "trigger", "who", "pin", "exit_code", "checks"),
    [
        ("injection", "inject", "surgeon", None, 0, 2),  # the surgeon's PIN and the verifier's
        ("filtering", "filter", "nurse", None, 0, 1),
        ("filtering", "filter", "nurse", pin_of("nobody"), 6, 1),  # the wrong PIN, nothing else
    ],
    ids=["an injection", "a processing step", "a step refused for a wrong PIN"],
)
def test_a_step_is_one_write_and_one_argon2_run_per_signer(
    clinic: Clinic,
    bmac: Bmac,
    writes: Counts,
    argon2: Counts,
    state: str,
    trigger: str,
    who: str,
    pin: str | None,
    exit_code: int,
    checks: int,
) -> None:
    """A refused step writes only what the sign-in changed (its failed-PIN count)."""
    case_id = clinic.open()
    advance_to(clinic, case_id, state)
    writes.reset()
    argon2.reset()
    result = bmac(*step_args(trigger, case_id), who=who, pin=pin)
    assert result.exit_code == exit_code, result.stderr
    assert writes == {"writes": 1}
    assert argon2 == {"checks": checks, "seals": 0}


def test_a_step_that_chooses_a_new_pin_is_still_one_write(
    clinic: Clinic, bmac: Bmac, writes: Counts, argon2: Counts
) -> None:
    case_id = clinic.open()
    advance_to(clinic, case_id, "filtering")
    given, chosen = "731904", "592038"
    reset_pin = bmac("operator", "reset-pin", "nurse", who="admin", env={"BMAC_NEW_PIN": given})
    assert reset_pin.exit_code == 0, reset_pin.stderr
    writes.reset()
    argon2.reset()
    result = bmac(
        *step_args("filter", case_id), who="nurse", pin=given, env={"BMAC_NEW_PIN": chosen}
    )
    assert result.exit_code == 0, result.stderr
    # One run unseals her key under the PIN the admin gave, one seals it under hers; the new
    # PIN, the step and the registry's act are written together.
    assert writes == {"writes": 1}
    assert argon2 == {"checks": 1, "seals": 1}
