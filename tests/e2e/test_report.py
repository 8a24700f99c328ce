"""`bmac report outcomes`: tables, JSON, and the PNG (with the [plots] extra, or a clear exit 5)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.conftest import Bmac, Clinic, advance_to


def treated(clinic: Clinic, patient: str, baseline_shift: float, visits: list[tuple]) -> int:
    case_id = clinic.open(patient)
    advance_to(clinic, case_id, "follow_up")
    for visit, vas, koos in visits:
        values = {"visit": visit, "vas": vas} | ({"koos": koos} if koos is not None else {})
        clinic.fire(case_id, "record_follow_up", values)
    return case_id


@pytest.fixture
def cohort(clinic: Clinic) -> list[int]:
    return [
        treated(clinic, "P-1", 0, [("1w", 5, 60), ("1m", 3, 70)]),
        treated(clinic, "P-2", 0, [("1w", 6, None)]),
    ]


def test_the_json_report_has_each_case_and_the_cohort_per_visit(
    bmac: Bmac, cohort: list[int]
) -> None:
    result = bmac("report", "outcomes", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert sorted(c["case_id"] for c in report["cases"]) == sorted(cohort)
    by_visit = {r["visit"]: r for r in report["cohort"]}
    assert by_visit["baseline"]["vas"] == {"n": 2, "mean": 7.0, "ci95": [7.0, 7.0]}
    assert by_visit["1w"]["vas"]["n"] == 2 and by_visit["1w"]["vas"]["mean"] == 5.5
    assert by_visit["1w"]["koos"]["n"] == 1 and by_visit["1m"]["vas"]["ci95"] is None


def test_one_case_reports_only_that_case(bmac: Bmac, cohort: list[int]) -> None:
    result = bmac("report", "outcomes", str(cohort[1]))
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(" 1w " in f" {line} " and "6.0" in line for line in lines)
    assert "P-1" not in result.stdout and "Cohort" not in result.stdout


def test_a_case_that_does_not_exist_exits_3(bmac: Bmac) -> None:
    result = bmac("report", "outcomes", "999")
    assert result.exit_code == 3 and result.stderr.startswith("error: no case 999")


def test_the_png_has_one_line_per_case_and_the_cohort_mean(
    bmac: Bmac, clinic: Clinic, cohort: list[int], tmp_path: Path
) -> None:
    out = tmp_path / "out.png"
    result = bmac("report", "outcomes", "--png", str(out))
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    from bmac_workflow.cli.report import figure
    from bmac_workflow.services.reports import outcomes

    cases, report = outcomes(None, clinic.db)
    fig = figure(cases, report["cohort"])
    vas_axes = fig.axes[0]
    # Case lines are Line2D; the cohort mean is an errorbar container (line plus interval).
    labels = [
        line.get_label() for line in vas_axes.get_lines() if not line.get_label().startswith("_")
    ] + [container.get_label() for container in vas_axes.containers]
    assert sorted(labels) == sorted([f"case {c}" for c in cohort] + ["cohort mean (95% CI)"])


def test_without_matplotlib_the_png_exits_5_naming_the_extra(
    bmac: Bmac, cohort: list[int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    out = tmp_path / "out.png"
    result = bmac("report", "outcomes", "--png", str(out))
    assert result.exit_code == 5
    assert "pip install 'bmac-workflow[plots]'" in result.stderr
    assert result.stdout == "" and not out.exists()
