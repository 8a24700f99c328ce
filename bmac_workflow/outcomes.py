"""Outcomes: VAS (and KOOS where recorded) at baseline and each follow-up visit, per case and
for the cohort (mean, 95% confidence interval from the t distribution, n per visit).

Pure: takes each case's log entries as plain rows (`action`, `at`, `data`, corrections already
applied, as `bmac case timeline --json` prints them) and returns plain data.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

BASELINE = "baseline"
# Visits in the order a knee lives through them; ad hoc visits are shown per case, never pooled.
VISIT_ORDER = (BASELINE, "1w", "1m", "3m", "6m", "12m", "24m")
SCORES = ("vas", "koos")

# Two-sided 95% critical values of Student's t by degrees of freedom (df > 120: the normal 1.96).
_T975 = {
    1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
    10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110,
    18: 2.101, 19: 2.093, 20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060,
    26: 2.056, 27: 2.052, 28: 2.048, 29: 2.045, 30: 2.042, 40: 2.021, 50: 2.009, 60: 2.000,
    80: 1.990, 100: 1.984, 120: 1.980,
}  # fmt: skip


@dataclass(frozen=True)
class VisitScore:
    """One visit of one case: when, and the scores taken."""

    visit: str
    at: str
    days_after_injection: float | None
    vas: float | None
    koos: float | None = None


@dataclass(frozen=True)
class CaseOutcome:
    """The scores of one knee over time, baseline first."""

    case_id: int
    patient_ref: str
    knee: str
    injected_at: str | None
    visits: list[VisitScore] = field(default_factory=list)

    def score(self, visit: str, name: str) -> float | None:
        """The score `name` at `visit`, if recorded."""
        for row in self.visits:
            if row.visit == visit:
                value: float | None = getattr(row, name)
                return value
        return None


@dataclass(frozen=True)
class Summary:
    """A cohort's score at one visit: how many knees, their mean and its 95% interval."""

    n: int
    mean: float | None
    ci95: tuple[float, float] | None


def t_critical(df: int) -> float:
    """The two-sided 95% critical value of Student's t with `df` degrees of freedom."""
    if df < 1:
        raise ValueError("df must be at least 1")
    try:  # exact when scipy happens to be installed; the table is within 0.5% otherwise
        from scipy.stats import t  # type: ignore[import-untyped, unused-ignore]

        return float(t.ppf(0.975, df))
    except ImportError:
        pass
    if df in _T975:
        return _T975[df]
    larger = [k for k in _T975 if k > df]
    return _T975[min(larger)] if larger else 1.96


def summarise(values: Sequence[float]) -> Summary:
    """n, mean and the 95% t interval of the mean (no interval below n = 2)."""
    n = len(values)
    if n == 0:
        return Summary(0, None, None)
    mean = sum(values) / n
    if n == 1:
        return Summary(1, mean, None)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_critical(n - 1) * sd / math.sqrt(n)
    return Summary(n, mean, (mean - half, mean + half))


def case_outcome(
    case_id: int, patient_ref: str, knee: str, rows: Iterable[Mapping[str, Any]]
) -> CaseOutcome:
    """The baseline and follow-up scores of one case from its log rows, oldest first."""
    rows = list(rows)
    injected = next((r["at"] for r in rows if r["action"] == "inject"), None)
    visits = []
    for row in rows:
        data = row["data"]
        if row["action"] == "assess" and data.get("baseline_vas") is not None:
            visits.append(_score(BASELINE, row["at"], injected, data.get("baseline_vas"), None))
        elif row["action"] == "record_follow_up":
            visits.append(_score(data["visit"], row["at"], injected, data["vas"], data.get("koos")))
    return CaseOutcome(case_id, patient_ref, knee, injected, visits)


def _score(
    visit: str, at: str, injected: str | None, vas: float | None, koos: float | None
) -> VisitScore:
    days = None
    if injected is not None:
        delta = datetime.fromisoformat(at) - datetime.fromisoformat(injected)
        days = round(delta.total_seconds() / 86400, 1) + 0.0  # never -0.0
    return VisitScore(
        visit,
        at,
        days,
        None if vas is None else float(vas),
        None if koos is None else float(koos),
    )


def cohort(cases: Sequence[CaseOutcome]) -> list[dict[str, Any]]:
    """Per scheduled visit (baseline first): n, mean and 95% CI of VAS and of KOOS."""
    result = []
    for visit in VISIT_ORDER:
        row: dict[str, Any] = {"visit": visit}
        for name in SCORES:
            values = [v for c in cases if (v := c.score(visit, name)) is not None]
            row[name] = asdict(summarise(values))
        if row["vas"]["n"] or row["koos"]["n"]:
            result.append(row)
    return result


def report(cases: Sequence[CaseOutcome]) -> dict[str, Any]:
    """The whole report as JSON data: every case's visits, and the cohort per visit."""
    return {
        "cases": [asdict(c) for c in cases],
        "cohort": cohort(cases),
    }


def has_koos(cases: Sequence[CaseOutcome]) -> bool:
    """True when any visit of any case recorded a KOOS."""
    return any(v.koos is not None for c in cases for v in c.visits)
