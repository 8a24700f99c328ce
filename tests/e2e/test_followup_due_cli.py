"""`bmac followup due`: the worklist of visits due or overdue, over cases spread on two years."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from bmac_workflow.cli.app import App
from bmac_workflow.protocol import load
from bmac_workflow.timeutil import iso, utcnow
from tests.conftest import Bmac, Clinic, advance_to

SCHEDULE = load(None).visits  # visit -> days after the injection
# Days before "now" of each case's injection: spread over two years, plus the edges of a
# seven-day window (a 1w visit due exactly on the horizon date, a 1m visit one day past it, ...).
DAYS_AGO = [0, 1, 6, 7, 8, 22, 23, 29, 30, 31, 84, 90, 91, 175, 182, 183, 358, 365, 366, 723, 730]
DAYS_AGO += [15 * k + 3 for k in range(50 - len(DAYS_AGO))]
assert len(DAYS_AGO) == 50 and max(DAYS_AGO) <= 2 * 365 + 20


def day(value: datetime) -> date:
    """The clinic's calendar day of an instant (local time, as the command shows it)."""
    return value.astimezone().date()


def build(clinic: Clinic, now: datetime) -> list[dict[str, Any]]:
    """Open, treat and follow 50 cases back-dated with clinical times; return what is expected."""
    expected = []
    for n, days_ago in enumerate(DAYS_AGO):
        # Hours vary so that injections fall at every time of day, across date boundaries.
        injected = now - timedelta(days=days_ago, hours=(n * 5) % 24, minutes=n)
        patient = f"P-{n:03d}"
        case_id = clinic.open(patient, "left", at=injected - timedelta(hours=2))
        advance_to(clinic, case_id, "follow_up", start=injected - timedelta(minutes=60))
        due = {name: injected + timedelta(days=days) for name, days in SCHEDULE.items()}
        past = [name for name, at in due.items() if at < now]
        recorded: list[str] = []
        if n % 4 == 0:  # caught up: every visit already due was recorded
            recorded = past
        elif n % 4 == 1 and past:  # came to the first visit only
            recorded = past[:1]
        last = injected
        for name in recorded:
            last = max(due[name], last)
            visit = {"visit": name, "vas": 3}
            clinic.fire(case_id, "record_follow_up", visit, at=min(last, now))
        if n % 9 == 2 and days_ago > 10:  # went on to a knee replacement: nothing more due
            clinic.fire(
                case_id, "record_follow_up", {"visit": "adhoc", "vas": 6, "arthroplasty": True}
            )
            continue
        if n % 13 == 5:  # closed early: nothing more due (its late entries reviewed first)
            clinic.review_deviations()
            clinic.fire(case_id, "close", who="surgeon", reason="lost to follow-up")
            continue
        for name, at in due.items():
            if name in recorded or day(at) > day(now + timedelta(days=7)):
                continue
            expected.append(
                {
                    "case_id": case_id,
                    "patient_ref": patient,
                    "knee": "left",
                    "visit": name,
                    "due_date": day(at).isoformat(),
                    "due_at": iso(at),
                    "days_overdue": max((day(now) - day(at)).days, 0),
                }
            )
    return sorted(expected, key=lambda r: (r["due_at"], r["case_id"]))


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """The command's clock, fixed, so that the expected list cannot drift past midnight."""
    now = utcnow() - timedelta(minutes=1)
    monkeypatch.setattr(App, "now", lambda self: now)
    return now


def test_due_within_seven_days_lists_exactly_the_visits_due_or_overdue(
    clinic: Clinic, bmac: Bmac, frozen: datetime
) -> None:
    expected = build(clinic, frozen)
    result = bmac("followup", "due", "--within", "7d", "--json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert rows == expected
    assert any(r["days_overdue"] > 300 for r in rows)  # overdue ones are there
    assert any(r["days_overdue"] == 0 for r in rows)  # and ones not yet late
    assert {r["visit"] for r in rows} == set(SCHEDULE)


def test_the_window_of_the_worklist_follows_within(
    clinic: Clinic, bmac: Bmac, frozen: datetime
) -> None:
    injected = frozen - timedelta(days=2)
    case_id = clinic.open(at=injected - timedelta(hours=2))
    advance_to(clinic, case_id, "follow_up", start=injected - timedelta(minutes=60))
    due_on = day(injected + timedelta(days=7))
    gap = (due_on - day(frozen)).days  # 5 days ahead
    assert json.loads(bmac("followup", "due", "--within", f"{gap - 1}d", "--json").stdout) == []
    rows = json.loads(bmac("followup", "due", "--within", f"{gap}d", "--json").stdout)
    assert [(r["case_id"], r["visit"], r["due_date"]) for r in rows] == [
        (case_id, "1w", due_on.isoformat())
    ]
    assert json.loads(bmac("followup", "due", "--within", "1w", "--json").stdout) == rows


def test_the_worklist_prints_one_plain_line_per_visit_when_piped(
    clinic: Clinic, bmac: Bmac, frozen: datetime
) -> None:
    injected = frozen - timedelta(days=40)
    case_id = clinic.open("P-0042", at=injected - timedelta(hours=2))
    advance_to(clinic, case_id, "follow_up", start=injected - timedelta(minutes=60))
    result = bmac("followup", "due")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()  # piped: plain lines, no header (a terminal gets a table)
    first = lines[0].split()
    assert first[:4] == [str(case_id), "P-0042", "left", "1w"]
    assert first[-3:] == [
        str((day(frozen) - day(injected + timedelta(days=7))).days),
        "days",
        "overdue",
    ]


def test_an_empty_worklist_says_so(bmac: Bmac, frozen: datetime) -> None:
    result = bmac("followup", "due")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "no visits due" in result.stderr


def test_a_span_that_is_not_a_number_of_days_weeks_or_hours_is_a_usage_error(
    sqlite_url: str,
) -> None:
    bmac = Bmac(sqlite_url)  # refused while parsing: no database is needed
    for span in ("7", "a week", "-3d", "7y"):
        result = bmac("followup", "due", "--within", span)
        assert result.exit_code == 2, span
        assert result.stderr.startswith("error:") and "--within" in result.stderr
