"""`case status` as a pure function of the case, its protocol and the time: what to do next,
how long the harvest-to-injection window still runs, and which visit is due next."""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bmac_workflow.protocol import Protocol, default_text, parse
from bmac_workflow.record import CaseSnapshot, evolve
from bmac_workflow.services.queries import status_of
from bmac_workflow.states import workflow
from bmac_workflow.timeutil import from_iso, iso
from tests.unit.logs import PROTOCOL, T0, happy_log, snapshot, step

FULL = happy_log()
HARVEST = from_iso(FULL[2].at)
INJECTION = from_iso(FULL[-1].at)

# What a nurse reads as the next thing to do in each state (README), written out again.
NEXT = {
    "imaging_assessment": ("assess", "bmac case assess 1"),
    "marrow_collection": ("collect", "bmac step collection 1"),
    "filtering": ("filter", "bmac step filtering 1"),
    "centrifugation": ("centrifuge", "bmac step centrifugation 1"),
    "plasma_removal": ("remove_plasma", "bmac step plasma-removal 1"),
    "concentration": ("concentrate", "bmac step concentration 1"),
    "injection": ("inject", "bmac step injection 1"),
    "follow_up": ("record_follow_up", "bmac followup record 1"),
}
WINDOW_STATES = ["filtering", "centrifugation", "plasma_removal", "concentration", "injection"]


@cache
def case_in(state: str) -> CaseSnapshot:
    return snapshot(happy_log(until=state))


def status(
    case: CaseSnapshot, minutes_after_harvest: float = 30, protocol: Protocol = PROTOCOL
) -> dict[str, Any]:
    """The status of `case` as shown `minutes_after_harvest` after the happy case's harvest."""
    return status_of(case, protocol, HARVEST + timedelta(minutes=minutes_after_harvest))


@pytest.mark.parametrize("state", list(NEXT))
def test_the_next_step_and_its_command_follow_the_state(state: str) -> None:
    shown = status(case_in(state))
    assert (shown["next_step"], shown["next_command"]) == NEXT[state]


@pytest.mark.parametrize(
    ("until", "trigger", "reason", "state"),
    [
        ("follow_up", "close", "lost to follow-up", "closed"),
        ("filtering", "cancel", "patient withdrew", "cancelled"),
    ],
)
def test_a_finished_case_has_no_next_step_and_says_why_it_ended(
    until: str, trigger: str, reason: str, state: str
) -> None:
    shown = status(snapshot(step(happy_log(until=until), trigger, {}, "surgeon", reason=reason)))
    assert shown["state"] == state
    assert (shown["next_step"], shown["next_command"]) == (None, None)
    assert shown["end_reason"] == reason
    assert shown["window_minutes_left"] is None and shown["follow_up_complete"] is None


def test_an_ineligible_case_has_no_next_step_and_keeps_its_assessment() -> None:
    shown = status(snapshot(happy_log(assess={"kl_grade": 4})))
    assert (shown["state"], shown["next_step"]) == ("ineligible", None)
    assert "refer for arthroplasty" in shown["assessment"]


def test_the_window_runs_in_exactly_the_states_between_the_harvest_and_the_injection() -> None:
    assert sorted(workflow().window_states) == sorted(WINDOW_STATES)


@pytest.mark.parametrize("state", WINDOW_STATES)
@given(seconds=st.integers(0, 6 * 3600))
def test_while_the_window_runs_status_counts_the_minutes_left_from_the_harvest(
    state: str, seconds: int
) -> None:
    shown = status_of(case_in(state), PROTOCOL, HARVEST + timedelta(seconds=seconds))
    assert shown["window_minutes_left"] == round(120 - seconds / 60, 1)
    assert shown["window_closes_at"] == "2026-11-25T11:20:00.000000Z"
    assert shown["window_minutes"] == 120


def test_a_window_that_has_passed_shows_negative_minutes_left() -> None:
    assert status(case_in("injection"), minutes_after_harvest=150)["window_minutes_left"] == -30


@pytest.mark.parametrize("state", ["imaging_assessment", "marrow_collection", "follow_up"])
def test_outside_the_window_status_shows_no_window(state: str) -> None:
    shown = status(case_in(state))
    assert (shown["window_minutes_left"], shown["window_closes_at"]) == (None, None)


def test_the_window_is_the_one_of_the_case_s_own_protocol() -> None:
    text = default_text().replace("window_minutes = 120", "window_minutes = 90")
    shorter = parse(text.replace('version = "bmac-knee-2026.4"', 'version = "short-window"'))
    shown = status(case_in("concentration"), minutes_after_harvest=30, protocol=shorter)
    assert (shown["window_minutes"], shown["window_minutes_left"]) == (90, 60)
    assert shown["window_closes_at"] == iso(HARVEST + timedelta(minutes=90))


def test_the_protocol_keys_a_case_runs_on_by_default_are_named_but_never_the_ranges() -> None:
    text = default_text()
    text = text.replace("window_minutes = 120\n", "").replace('"bmac-knee-2026.4"', '"no-window"')
    shown = status(case_in("filtering"), protocol=parse(text))
    assert shown["protocol_defaults"] == ["injection.window_minutes"]  # the file states the rest
    assert status(case_in("filtering"))["protocol_defaults"] == []


def visits(*names: str, arthroplasty: bool = False) -> CaseSnapshot:
    return evolve(snapshot(FULL), visits=names, arthroplasty=arthroplasty)


def test_right_after_the_injection_the_one_week_visit_is_due_a_week_later() -> None:
    shown = status(visits())
    assert shown["follow_up_complete"] is False
    assert shown["next_visit"] == {"visit": "1w", "due_at": iso(INJECTION + timedelta(days=7))}
    assert shown["next_command"] == "bmac followup record 1"


def test_after_the_one_week_visit_the_one_month_visit_is_due() -> None:
    shown = status(visits("1w"))
    assert shown["next_visit"] == {"visit": "1m", "due_at": iso(INJECTION + timedelta(days=30))}
    assert shown["visits_recorded"] == ["1w"]


def test_a_visit_skipped_stays_the_next_one_due() -> None:
    assert status(visits("3m", "1m"))["next_visit"]["visit"] == "1w"


@pytest.mark.parametrize(
    "case", [visits("1w", "1m", "3m", "6m", "12m", "24m"), visits("24m"), visits(arthroplasty=True)]
)
def test_a_complete_follow_up_says_to_close_the_case_and_lists_no_visit_due(
    case: CaseSnapshot,
) -> None:
    shown = status(case)
    assert shown["follow_up_complete"] is True
    assert (shown["next_step"], shown["next_command"]) == ("close", "bmac case close 1")
    assert shown["next_visit"] is None


def test_status_shows_the_case_as_its_log_says() -> None:
    shown = status(snapshot(FULL), minutes_after_harvest=60)
    assert shown["entries"] == 8 and shown["specimen_id"] == "SP-1"
    assert shown["volumes_ml"]["injected_ml"] == 5 and shown["concentration_factor"] == 10
    assert (shown["harvested_at"], shown["injected_at"]) == (FULL[2].at, FULL[-1].at)
    assert shown["opened_at"] == iso(T0)
