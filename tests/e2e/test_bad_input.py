"""Bad input: one `error:` line, the exit code the README lists, no traceback, nothing written."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Bmac, Clinic
from tests.walk import step_args

CASE: Any = "{case}"  # the placeholder of the test's case id in the arguments below
ASSESS = step_args("assess", CASE)


@pytest.mark.parametrize(
    ("args", "who", "code", "says"),
    [
        (["case", "status", "999"], None, 3, "no case 999"),
        (step_args("assess", 999), "surgeon", 3, "no case 999"),
        (step_args("assess", CASE, kl_grade=7), "surgeon", 5, "--kl"),
        (step_args("assess", CASE, kl_grade=None), "surgeon", 2, "--kl"),
        ([*ASSESS, "--at", "yesterday-ish"], "surgeon", 5, "--at"),
        ([*ASSESS, "--at", "2999-01-01T00:00"], "surgeon", 5, "future"),
        (ASSESS, "nurse", 6, "surgeon"),
        (
            ["case", "open", "--patient", "800101-1234567", "--knee", "left"],
            "nurse",
            5,
            "resident registration number",
        ),
        (["case", "open", "--patient", "P-1", "--knee", "middle"], "nurse", 2, "--knee"),
        (step_args("filter", CASE), "nurse", 4, "allowed next: bmac case assess"),
    ],
)
def test_bad_input_gives_one_error_line_and_writes_nothing(
    bmac: Bmac, clinic: Clinic, args: list[str], who: str | None, code: int, says: str
) -> None:
    case_id = clinic.open()
    before = clinic.counts()
    result = bmac(*[a.format(case=case_id) for a in args], who=who)
    assert result.exit_code == code, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and says in lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert clinic.counts() == before


def test_a_wrong_pin_is_refused_with_exit_6_and_no_case_row(bmac: Bmac, clinic: Clinic) -> None:
    before = clinic.counts()["cases"]
    result = bmac("case", "open", "--patient", "P-9", "--knee", "left", who="nurse", pin="0000")
    assert result.exit_code == 6
    assert result.stderr.startswith("error: wrong PIN")
    assert "0000" not in result.stderr
    assert clinic.counts()["cases"] == before


def test_a_writing_command_without_an_operator_says_how_to_give_one(bmac: Bmac) -> None:
    result = bmac("case", "open", "--patient", "P-9", "--knee", "left")
    assert result.exit_code == 6
    assert "--operator" in result.stderr


def test_an_unreachable_database_is_one_error_line(tmp_path: object) -> None:
    runner_result = Bmac("postgresql+psycopg://nobody@127.0.0.1:1/none")("case", "list")
    assert runner_result.exit_code == 1
    assert runner_result.stderr.startswith("error: the database failed")
    assert len(runner_result.stderr.splitlines()) == 1
