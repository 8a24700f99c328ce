"""The happy path through the real command line, on every database."""

from __future__ import annotations

import json

from tests.conftest import Bmac, Clinic


def test_a_full_case_moves_from_opening_to_closed(bmac: Bmac, clinic: Clinic) -> None:
    opened = bmac("case", "open", "--patient", "P-0042", "--knee", "left", who="nurse")
    assert opened.exit_code == 0, opened.stderr
    case = opened.stdout.strip()
    assert case.isdigit()
    steps = [
        (
            (
                "case",
                "assess",
                case,
                "--kl",
                "3",
                "--icrs",
                "4",
                "--imaging",
                "xray,mri",
                "--vas",
                "7",
            ),
            "surgeon",
        ),
        (
            (
                "step",
                "collection",
                case,
                "--side",
                "left",
                "--aspirate-ml",
                "60",
                "--anticoagulant",
                "heparin",
                "--kit-lot",
                "K-1",
                "--specimen-id",
                "SP-1",
            ),
            "nurse",
        ),
        (("step", "filtering", case, "--filter-lot", "F-1", "--filtered-ml", "55"), "nurse"),
        (
            (
                "step",
                "centrifugation",
                case,
                "--device",
                "CF-1",
                "--g-force",
                "1500",
                "--minutes",
                "10",
            ),
            "nurse",
        ),
        (("step", "plasma-removal", case, "--plasma-removed-ml", "45"), "nurse"),
        (("step", "concentration", case, "--concentrate-ml", "6"), "nurse"),
        (
            (
                "step",
                "injection",
                case,
                "--knee",
                "left",
                "--injected-ml",
                "5",
                "--guidance",
                "ultrasound",
                "--specimen-id",
                "SP-1",
                "--verifier",
                "nurse2",
            ),
            "surgeon",
        ),
        (("followup", "record", case, "--visit", "1w", "--vas", "4"), "nurse"),
        (("case", "close", case, "--reason", "lost to follow-up"), "surgeon"),
    ]
    for args, who in steps:
        result = bmac(*args, who=who)
        assert result.exit_code == 0, (args, result.stderr)
    status = json.loads(bmac("case", "status", case, "--json").stdout)
    assert status["state"] == "closed"
    assert status["insurance_eligible"] is True
    timeline = json.loads(bmac("case", "timeline", case, "--json").stdout)
    assert [row["seq"] for row in timeline] == list(range(1, 11))
    assert bmac("audit", "verify").exit_code == 0
