"""The terminal commands keep `--help` and TAB light: no rich, matplotlib or database import."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("rich", "matplotlib", "sqlalchemy", "transitions", "fhir")

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
        ["bmac", "report", "outcomes", "--help"],
        ["bmac", "diagram", "-h"],
        ["bmac", "completion", "bash"],
    ],
)
def test_help_and_completion_import_no_heavy_library(argv: list[str]) -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv, heavy=HEAVY)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip().splitlines()[-1] == "LOADED []"
