"""`--help`, `--version` and TAB stay light: no database, state machine, rich or plotting import."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("sqlalchemy", "alembic", "transitions", "pydantic", "rich", "matplotlib", "fhir")

PROBE = """
import sys
sys.argv = {argv!r}
from bmac_workflow.cli import main
try:
    main()
except SystemExit:
    pass
print("LOADED", sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r})))
"""


@pytest.mark.parametrize(
    "argv",
    [
        ["bmac", "--help"],
        ["bmac", "case", "--help"],
        ["bmac", "step", "injection", "-h"],
        ["bmac", "--version"],
        ["bmac", "report", "outcomes", "--help"],
        ["bmac", "diagram", "-h"],
        ["bmac", "completion", "bash"],
    ],
)
def test_help_imports_no_database_or_state_machine_library(argv: list[str]) -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv, heavy=HEAVY)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip().splitlines()[-1] == "LOADED []"
