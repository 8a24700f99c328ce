"""Outcomes: per-visit scores of a case and the cohort's mean, 95% t interval and n."""

from __future__ import annotations

import math

import pytest

from bmac_workflow.outcomes import case_outcome, cohort, summarise, t_critical


def rows(baseline: float, *visits: tuple[str, float, float | None]) -> list[dict[str, object]]:
    result: list[dict[str, object]] = [
        {"action": "open", "at": "2026-01-01T08:00:00.000000Z", "data": {}},
        {
            "action": "assess",
            "at": "2026-01-01T09:00:00.000000Z",
            "data": {"baseline_vas": baseline},
        },
        {"action": "inject", "at": "2026-01-02T09:00:00.000000Z", "data": {}},
    ]
    for day, (visit, vas, koos) in enumerate(visits, start=10):
        data = {"visit": visit, "vas": vas} | ({"koos": koos} if koos is not None else {})
        at = f"2026-01-{day:02d}T09:00:00.000000Z"
        result.append({"action": "record_follow_up", "at": at, "data": data})
    return result


def test_t_critical_values_match_the_table_of_students_t() -> None:
    assert t_critical(1) == pytest.approx(12.706, abs=1e-3)
    assert t_critical(9) == pytest.approx(2.262, abs=1e-3)
    assert t_critical(1000) == pytest.approx(1.96, abs=0.01)


def test_the_interval_of_three_values_uses_t_with_two_degrees_of_freedom() -> None:
    s = summarise([4.0, 5.0, 6.0])
    assert s.n == 3 and s.mean == pytest.approx(5.0)
    assert s.ci95 is not None
    half = 4.303 * 1.0 / math.sqrt(3)
    assert s.ci95[0] == pytest.approx(5 - half, abs=1e-2)
    assert s.ci95[1] == pytest.approx(5 + half, abs=1e-2)


def test_one_value_has_a_mean_but_no_interval() -> None:
    assert summarise([3.0]).ci95 is None and summarise([]).mean is None


def test_a_case_lists_baseline_then_its_visits_with_days_after_the_injection() -> None:
    case = case_outcome(1, "P-1", "left", rows(7, ("1w", 5, 60), ("1m", 3, None)))
    assert [(v.visit, v.vas, v.koos) for v in case.visits] == [
        ("baseline", 7.0, None),
        ("1w", 5.0, 60.0),
        ("1m", 3.0, None),
    ]
    assert case.visits[1].days_after_injection == 8.0


def test_the_cohort_pools_each_visit_and_counts_the_knees_that_had_it() -> None:
    a = case_outcome(1, "P-1", "left", rows(8, ("1w", 6, 50), ("1m", 4, None)))
    b = case_outcome(2, "P-2", "right", rows(6, ("1w", 4, 70)))
    by_visit = {r["visit"]: r for r in cohort([a, b])}
    assert list(by_visit) == ["baseline", "1w", "1m"]
    assert by_visit["baseline"]["vas"]["n"] == 2 and by_visit["baseline"]["vas"]["mean"] == 7
    assert by_visit["1w"]["koos"]["mean"] == 60 and by_visit["1w"]["koos"]["n"] == 2
    assert by_visit["1m"]["vas"]["n"] == 1 and by_visit["1m"]["vas"]["ci95"] is None


def test_ad_hoc_visits_show_per_case_but_are_never_pooled() -> None:
    a = case_outcome(1, "P-1", "left", rows(8, ("adhoc", 9, None)))
    assert [v.visit for v in a.visits] == ["baseline", "adhoc"]
    assert [r["visit"] for r in cohort([a])] == ["baseline"]
