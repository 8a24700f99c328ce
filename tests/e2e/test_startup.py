"""`--help`, `--version` and TAB stay light: no database, state machine, rich or plotting import.
`case status` reads on SQLAlchemy Core alone: no ORM, state machine, migrations or rich."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import Clinic

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
        ["bmac", "step", "--help"],
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


def test_a_steps_own_help_loads_its_data_model_and_nothing_heavier() -> None:
    # A step's options and help are read from its data model (pydantic, step_data.py), which
    # is what keeps a step declared in one place; the database and the machine stay unloaded.
    heavier = tuple(h for h in HEAVY if h != "pydantic")
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            PROBE.format(argv=["bmac", "step", "injection", "-h"], heavy=heavier),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip().splitlines()[-1] == "LOADED []"


# What `case status` must not import: the benchmark start_case_status (benchmarks/run.py) counts
# on it, and none of them is needed to read one case.
STATUS_HEAVY = ("sqlalchemy.orm", *(h for h in HEAVY if h != "sqlalchemy"))

STATUS_PROBE = """
import sys
sys.argv = {argv!r}
from bmac_workflow.cli import main
try:
    main()
except SystemExit as exc:
    assert not exc.code, exc.code
loaded = {{h for h in {heavy!r} for m in sys.modules if m == h or m.startswith(h + ".")}}
print("LOADED", sorted(loaded))
"""


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_case_status_reads_without_the_orm_the_state_machine_or_migrations(
    clinic: Clinic, json_flag: list[str]
) -> None:
    case_id = clinic.open()
    argv = ["bmac", "case", "status", str(case_id), *json_flag]
    done = subprocess.run(
        [sys.executable, "-c", STATUS_PROBE.format(argv=argv, heavy=STATUS_HEAVY)],
        capture_output=True,
        text=True,
        env={**os.environ, "BMAC_DATABASE_URL": clinic.url},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "LOADED []"


GC_PROBE = """
import gc, sys
sys.argv = {argv!r}
from bmac_workflow.cli import main
try:
    main()
except SystemExit as exc:
    assert not exc.code, exc.code
print("GC", gc.isenabled(), gc.get_freeze_count() > 10_000)
"""


@pytest.mark.parametrize(
    "argv", [["bmac", "case", "list", "--json"], ["bmac", "case", "timeline", "{case}"]]
)
def test_the_collector_is_back_on_once_a_command_has_opened_its_database(
    clinic: Clinic, argv: list[str]
) -> None:
    # main holds the collector off while the command loads; a long command (verify, export)
    # must not run without it.
    case_id = clinic.open()
    argv = [arg.format(case=case_id) for arg in argv]
    done = subprocess.run(
        [sys.executable, "-c", GC_PROBE.format(argv=argv)],
        capture_output=True,
        text=True,
        env={**os.environ, "BMAC_DATABASE_URL": clinic.url},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "GC True True"
