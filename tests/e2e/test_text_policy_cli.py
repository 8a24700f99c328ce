"""Text a person types, through `bmac`, on both databases: registration numbers refused in every
field, one length per field (exit 5 before the database), no control characters in ids and
names, free text escaped on output, operator ids that differ only in case (issue 15)."""

from __future__ import annotations

import pytest

from tests.conftest import Bmac, Clinic, add_operator_args, advance_to
from tests.walk import PINS, step_args

RRN = "900101\uff0d1234567"  # the full-width dash a Korean IME types


def refused(result: object, code: int, *says: str) -> None:
    stderr = result.stderr  # type: ignore[attr-defined]
    assert result.exit_code == code, stderr  # type: ignore[attr-defined]
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert all(s in lines[0] for s in says), lines[0]
    assert len(lines[0]) < 400  # the input is echoed 80 characters at most


@pytest.mark.parametrize(
    ("make_args", "who", "says"),
    [
        (lambda c: ["case", "open", "--patient", RRN, "--knee", "left"], "nurse", "--patient"),
        (lambda c: ["case", "cancel", c, "--reason", f"per {RRN}"], "surgeon", "--reason"),
        (
            lambda c: [*add_operator_args("kim", f"Kim {RRN}", "nurse")],
            "admin",
            "--name",
        ),
        (
            lambda c: step_args("assess", c, kl_grade=4, override_reason="pt 9001011234567"),
            "surgeon",
            "--override-reason",
        ),
    ],
)
def test_a_registration_number_is_refused_in_every_field(
    bmac: Bmac, clinic: Clinic, make_args: object, who: str, says: str
) -> None:
    case_id = str(clinic.open())
    before = clinic.counts()
    args = make_args(case_id)  # type: ignore[operator]
    result = bmac(*args, who=who, env={"BMAC_NEW_PIN": "582914"})
    refused(result, 5, says, "resident registration number")
    assert clinic.counts() == before


def test_a_correction_reason_with_a_registration_number_is_refused(
    bmac: Bmac, clinic: Clinic
) -> None:
    case_id = clinic.open()
    advance_to(clinic, case_id, "centrifugation")
    before = clinic.counts()
    result = bmac(
        "case", "correct", str(case_id), "--entry", "4", "--set", "filtered_ml=54",
        "--reason", "per 900101 1234567", who="nurse",
    )  # fmt: skip
    refused(result, 5, "--reason", "resident registration number")
    assert clinic.counts() == before


def test_an_adverse_event_and_a_lot_with_a_registration_number_are_refused(
    bmac: Bmac, clinic: Clinic
) -> None:
    case_id = clinic.open()
    advance_to(clinic, case_id, "marrow_collection")
    before = clinic.counts()
    lot = step_args("collect", case_id, kit_lot="900101\u200b1234567")
    refused(bmac(*lot, who="nurse"), 5, "--kit-lot", "registration")
    assert clinic.counts() == before


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["case", "open", "--patient", "P" * 65, "--knee", "left"], "at most 64"),
        ([*add_operator_args("kim", "K" * 10_000, "nurse")], "at most 100"),
        (["case", "open", "--patient", "P-1\x1b]8;;http://x\x1b\\", "--knee", "left"], "U+001B"),
        ([*add_operator_args("kim", "Kim\u202eoow-ij", "nurse")], "U+202E"),
    ],
)
def test_lengths_and_characters_are_checked_before_the_database(
    bmac: Bmac, clinic: Clinic, args: list[str], says: str
) -> None:
    before = clinic.counts()
    who = "admin" if args[0] == "operator" else "nurse"
    result = bmac(*args, who=who, env={"BMAC_NEW_PIN": "582914"})
    refused(result, 5, says)
    assert "K" * 81 not in result.stderr and "P" * 81 not in result.stderr
    assert clinic.counts() == before


def test_free_text_reaches_the_terminal_escaped(bmac: Bmac, clinic: Clinic) -> None:
    case_id = clinic.open()
    reason = "moved\x1b[2J\x07 abroad\u202e\nnext line"
    cancelled = bmac("case", "cancel", str(case_id), "--reason", reason, who="surgeon")
    assert cancelled.exit_code == 0, cancelled.stderr
    for args in (["case", "status", str(case_id)], ["case", "timeline", str(case_id)]):
        shown = bmac(*args).stdout
        assert "\x1b" not in shown and "\x07" not in shown and "\u202e" not in shown
        assert "\\x1b[2J" in shown
    listed = bmac("case", "list").stdout + bmac("operator", "list").stdout
    assert "\x1b" not in listed


def test_operator_ids_that_differ_only_in_case_cannot_coexist(bmac: Bmac, clinic: Clinic) -> None:
    before = clinic.counts()
    result = bmac(
        *add_operator_args("NURSE", "Another Nurse", "nurse"),
        who="admin",
        env={"BMAC_NEW_PIN": "582914"},
    )
    refused(result, 5, "exists already", "as nurse")
    assert clinic.counts() == before
    wrong_case = bmac("case", "open", "--patient", "P-9", "--knee", "left", who="NURSE",
                      pin=PINS["nurse"])  # fmt: skip
    refused(wrong_case, 6, "spelled nurse")
