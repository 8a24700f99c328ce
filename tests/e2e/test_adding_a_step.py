"""A step declared in a test-only registry, and nothing else edited, is a step of the product:
the machine walks it, `bmac step cell-count` exists with its options and help, status and next
step, the role matrix, the timeline, FHIR, the demo and the window all follow
(docs/adding-a-step.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any, ClassVar

import pytest
from click.testing import CliRunner, Result
from pydantic import Field

from bmac_workflow.record import Meaning
from bmac_workflow.roles import CLINICAL
from bmac_workflow.states import declared, workflow
from bmac_workflow.step_data import Count, Option, Range, StepData
from bmac_workflow.steps import STEPS, Step, insert_after
from tests.conftest import Bmac, Clinic, advance_to
from tests.walk import step_args


class CellCountData(StepData):
    """A count of the nucleated cells in the concentrate, before it is injected."""

    viable_cells_per_ul: Annotated[
        Count, Option("Viable nucleated cells per uL."), Range(1000, 500000)
    ] = Field(gt=0)
    counter_id: Annotated[str, Option("Cell counter used.", metavar="ID")] = Field(min_length=1)

    example: ClassVar[dict[str, Any]] = {"viable_cells_per_ul": 41000, "counter_id": "CC-1"}


CELL_COUNT = Step(
    "cell_count",
    "cell_counting",
    "",  # insert_after points it where the step before it led
    CLINICAL,
    Meaning.PERFORMED,
    "step cell-count",
    "Log the count of nucleated cells in the concentrate.",
    data=CellCountData,
    fhir="nucleated cell count",
    window_running=True,
)


@pytest.fixture(autouse=True)
def with_cell_count() -> Iterator[None]:
    with declared(insert_after(STEPS, "concentrate", CELL_COUNT)):
        yield


def invoke(*args: str) -> Result:
    from bmac_workflow.cli import cli

    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_the_machine_walks_the_new_step_between_concentration_and_injection() -> None:
    walk = [s.trigger for s in workflow().walk]
    assert walk[walk.index("concentrate") + 1] == "cell_count"
    assert workflow().by_trigger["concentrate"].dest == "cell_counting"
    assert "cell_counting" in workflow().states
    assert workflow().next_step("cell_counting") == "cell_count"


def test_the_new_step_has_its_command_with_options_and_help() -> None:
    listed = invoke("step", "--help")
    assert "cell-count" in listed.stdout
    shown = invoke("step", "cell-count", "--help")
    assert shown.exit_code == 0
    for text in ("--viable-cells-per-ul", "--counter-id", "Log the count of nucleated cells"):
        assert text in shown.stdout
    assert "Example:" in shown.stdout and "--viable-cells-per-ul 41000" in shown.stdout


def test_the_role_matrix_and_the_diagram_show_the_new_step() -> None:
    roles = json.loads(invoke("operator", "roles", "--json").stdout)
    row = next(r for r in roles if r["action"] == "cell_count")
    assert (row["commands"], row["roles"]) == ("step cell-count", ["nurse", "surgeon"])
    assert "cell_counting --> injection: cell_count" in invoke("diagram").stdout


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_case_walks_through_the_new_step_to_its_injection(clinic: Clinic, bmac: Bmac) -> None:
    case_id = clinic.open()
    advance_to(clinic, case_id, "cell_counting")
    status = json.loads(bmac("case", "status", str(case_id), "--json").stdout)
    assert status["next_step"] == "cell_count"
    assert status["next_command"] == f"bmac step cell-count {case_id}"
    assert status["window_minutes_left"] is not None  # the harvest window runs while it waits

    refused = bmac(*step_args("cell_count", case_id, viable_cells_per_ul=10), who="nurse")
    assert refused.exit_code == 5 and "--viable-cells-per-ul 10 is out of range" in refused.stderr

    logged = bmac(*step_args("cell_count", case_id), who="nurse")
    assert logged.exit_code == 0, logged.stderr
    assert "cell_counting -> injection" in logged.stdout
    assert f"next: bmac step injection {case_id}" in logged.stdout

    advance_to(clinic, case_id, "follow_up")
    timeline = json.loads(bmac("case", "timeline", str(case_id), "--json").stdout)
    counted = next(row for row in timeline if row["action"] == "cell_count")
    assert counted["data"] == {"viable_cells_per_ul": 41000, "counter_id": "CC-1"}
    bundle = json.loads(bmac("audit", "export", str(case_id), "--format", "fhir").stdout)
    specimen = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Specimen"
    )
    methods = [p["method"]["text"] for p in specimen["processing"]]
    assert methods.index("nucleated cell count") == methods.index("concentration") + 1
    assert bmac("audit", "verify").exit_code == 0


def test_the_demo_walks_the_new_step() -> None:
    result = invoke("demo")
    assert result.exit_code == 0, result.stderr
    assert "cell_count        cell_counting -> injection" in result.stdout
    assert "audit verify: clean" in result.stdout
