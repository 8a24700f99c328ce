"""The clinical rules through the service layer, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bmac_workflow.errors import (
    BmacError,
    Conflict,
    InvalidData,
    NotAllowed,
    NotFound,
    NotPermitted,
)
from bmac_workflow.record import replay
from bmac_workflow.services import queries
from bmac_workflow.states import workflow
from bmac_workflow.store import tables
from bmac_workflow.timeutil import iso, utcnow
from tests.conftest import Clinic, advance_to
from tests.walk import happy_steps, specimen, step_values

IMAGING_CHOICES = [
    ["xray"],
    ["mri"],
    ["arthroscopy"],
    ["xray", "mri"],
    ["xray", "arthroscopy"],
    ["mri", "arthroscopy"],
    ["xray", "mri", "arthroscopy"],
]


def assess_values(kl: int, icrs: int, deformity: bool, imaging: list[str]) -> dict[str, Any]:
    return {
        "kl_grade": kl,
        "icrs_grade": icrs,
        "imaging": imaging,
        "leg_deformity": deformity,
        "baseline_vas": 6,
    }


def status(clinic: Clinic, case_id: int, now: datetime | None = None) -> dict[str, Any]:
    return queries.status(case_id, now or utcnow(), clinic.db)


def timeline(clinic: Clinic, case_id: int) -> list[dict[str, Any]]:
    return queries.timeline(case_id, clinic.db)


def steps_from(state: str, case_id: int) -> list[tuple[str, str, dict[str, Any]]]:
    """The happy steps of a case from the one it awaits in `state` to the injection."""
    steps = happy_steps(case_id)
    first = [trigger for trigger, _, _ in steps].index(workflow().next_step(state))
    return steps[first:]


def snapshot(clinic: Clinic) -> tuple[dict[str, int], list[Any]]:
    """Everything a refused command could have changed: row counts and every case row."""
    cases = tables.cases.c
    query = select(cases.id, cases.version, cases.state, cases.facts).order_by(cases.id)
    with clinic.engine.connect() as conn:
        rows = conn.execute(query).all()
    return clinic.counts(), [tuple(r) for r in rows]


def refused(clinic: Clinic, error: type[BmacError], *args: Any, **kw: Any) -> str:
    """Fire and expect a refusal that writes nothing (but, for a guard of the injection, the one
    refusal kept in the refusals log); return its message."""
    before, refusals = snapshot(clinic), clinic.count("refusals")
    with pytest.raises(error) as raised:
        clinic.fire(*args, **kw)
    kept = clinic.count("refusals") - refusals
    assert snapshot(clinic) == before
    assert kept == (1 if args[1] == "inject" and args[3] == "surgeon" else 0)
    return raised.value.message


# -- assessment ------------------------------------------------------------------------------


def test_all_grade_combinations_reach_the_state_reason_and_insurance_the_spec_gives(
    clinic: Clinic,
) -> None:
    combos = list(itertools.product(range(5), range(5), (False, True)))
    for n, (kl, icrs, deformity) in enumerate(combos):
        imaging = IMAGING_CHOICES[n % len(IMAGING_CHOICES)]
        for choice in (imaging, ["xray", "mri"]):
            case_id = clinic.open(f"P-{n:03d}")
            change = clinic.fire(
                case_id, "assess", assess_values(kl, icrs, deformity, choice), "surgeon"
            )
            candidate = kl in (2, 3) and icrs in (3, 4) and not deformity
            insured = (
                candidate and "xray" in choice and ("mri" in choice or "arthroscopy" in choice)
            )
            seen = status(clinic, case_id)
            where = (kl, icrs, deformity, choice)
            assert seen["state"] == ("marrow_collection" if candidate else "ineligible"), where
            assert seen["insurance_eligible"] is insured, where
            assert change.entry.data["reason"] == seen["assessment"]
            if kl == 4:
                assert "refer for arthroplasty" in seen["assessment"], where
            if not candidate:
                assert seen["assessment"].startswith("not a candidate"), where
                assert seen["next_step"] is None
            if insured:
                assert seen["insurance_basis"] == (
                    f"KL {kl} on X-ray; ICRS {icrs} on "
                    + " and ".join(
                        name
                        for m, name in (("mri", "MRI"), ("arthroscopy", "arthroscopy"))
                        if m in choice
                    )
                )


def test_a_surgeons_override_sends_a_non_candidate_to_collection_never_insured(
    clinic: Clinic,
) -> None:
    case_id = clinic.open()
    values = {**assess_values(4, 4, False, ["xray", "mri"]), "override_reason": "declines TKA"}
    change = clinic.fire(case_id, "assess", values, "surgeon")
    seen = status(clinic, case_id)
    assert seen["state"] == "marrow_collection"
    assert seen["insurance_eligible"] is False
    assert seen["override_reason"] == "declines TKA"
    assert "refer for arthroplasty" in seen["assessment"]
    assert change.entry.data["overridden"] is True
    assert change.entry.signer.meaning == "overridden"


def test_an_override_of_a_candidate_is_refused_and_writes_nothing(clinic: Clinic) -> None:
    case_id = clinic.open()
    values = {**assess_values(3, 4, False, ["xray", "mri"]), "override_reason": "why not"}
    message = refused(clinic, InvalidData, case_id, "assess", values, "surgeon")
    assert "only for a knee that is not a candidate" in message


# -- chain of identity -------------------------------------------------------------------------


def test_a_specimen_id_is_unique_across_all_cases_even_cancelled_ones(clinic: Clinic) -> None:
    first = clinic.open("P-1")
    advance_to(clinic, first, "filtering")
    clinic.fire(first, "cancel", who="surgeon", reason="consent withdrawn")
    second = clinic.open("P-2")
    advance_to(clinic, second, "marrow_collection")
    reused = {**step_values("collect", second), "specimen_id": specimen(first)}
    message = refused(clinic, InvalidData, second, "collect", reused)
    assert "already used by another case" in message


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"specimen_id": "SP-999"}, "does not match"),
        ({"knee": "right"}, "not the case's knee"),
    ],
)
def test_an_injection_that_fails_the_identity_check_writes_nothing(
    clinic: Clinic, change: dict[str, str], words: str
) -> None:
    case_id = clinic.open(knee="left")
    advance_to(clinic, case_id, "injection")
    values = {**step_values("inject", case_id), **change}
    message = refused(clinic, InvalidData, case_id, "inject", values, "surgeon", verifier="nurse2")
    assert words in message


# -- time window and clinical times ------------------------------------------------------------


def harvested_case(clinic: Clinic, start: datetime) -> int:
    """A case opened at `start`, harvested at start + 10 min, concentrated by start + 50 min."""
    case_id = clinic.open(at=start - timedelta(minutes=5))
    advance_to(clinic, case_id, "injection", start=start)
    return case_id


def test_the_window_is_counted_on_clinical_times_with_the_limit_inclusive(clinic: Clinic) -> None:
    start = utcnow() - timedelta(hours=6)
    case_id = harvested_case(clinic, start)
    harvest = start + timedelta(minutes=10)
    values = step_values("inject", case_id)
    nurse2 = "nurse2"
    message = refused(
        clinic,
        NotPermitted,
        case_id,
        "inject",
        values,
        "surgeon",
        at=harvest + timedelta(minutes=121),
        verifier=nurse2,
    )
    assert "121 min" in message and "--override-reason" in message
    change = clinic.fire(
        case_id, "inject", values, "surgeon", at=harvest + timedelta(minutes=120), verifier=nurse2
    )
    assert change.entry.data["minutes_since_harvest"] == 120
    assert change.entry.data["overridden"] is False
    assert change.entry.signer.meaning == "performed"


def test_a_surgeons_override_past_the_window_is_recorded_with_who_gave_it(clinic: Clinic) -> None:
    start = utcnow() - timedelta(hours=6)
    case_id = harvested_case(clinic, start)
    values = {**step_values("inject", case_id), "override_reason": "theatre delay, cold chain kept"}
    clinic.fire(
        case_id,
        "inject",
        values,
        "surgeon",
        at=start + timedelta(minutes=10 + 121),
        verifier="nurse2",
    )
    row = timeline(clinic, case_id)[-1]
    assert row["action"] == "inject"
    assert row["operator"] == "surgeon" and row["role"] == "surgeon"
    assert row["meaning"] == "overridden"
    assert row["data"]["override_reason"] == "theatre delay, cold chain kept"
    assert row["data"]["minutes_since_harvest"] == 121


def test_status_shows_the_minutes_left_while_the_case_waits_for_the_injection(
    clinic: Clinic,
) -> None:
    start = utcnow() - timedelta(hours=1)
    case_id = clinic.open(at=start)
    advance_to(clinic, case_id, "filtering", start=start)  # harvested at start + 10 min
    harvest = start + timedelta(minutes=10)
    seen = status(clinic, case_id, now=harvest + timedelta(minutes=45))
    assert seen["window_minutes_left"] == 75
    assert seen["window_minutes"] == 120
    later = status(clinic, case_id, now=harvest + timedelta(minutes=150))
    assert later["window_minutes_left"] == -30
    for trigger, who, values in steps_from("filtering", case_id):
        clinic.fire(case_id, trigger, values, who, verifier=values.get("verifier_id"))
        if trigger != "inject":
            assert status(clinic, case_id)["window_minutes_left"] is not None
    assert status(clinic, case_id)["window_minutes_left"] is None


def test_an_entry_keeps_its_clinical_time_and_when_it_was_recorded(clinic: Clinic) -> None:
    at = utcnow() - timedelta(days=3)
    case_id = clinic.open(at=at)
    row = timeline(clinic, case_id)[0]
    assert datetime.fromisoformat(row["at"]) == at
    assert datetime.fromisoformat(row["recorded_at"]) > at + timedelta(days=2)


def test_a_clinical_time_in_the_future_or_before_the_previous_entry_is_refused(
    clinic: Clinic,
) -> None:
    opened = utcnow() - timedelta(hours=2)
    case_id = clinic.open(at=opened)
    values = assess_values(3, 4, False, ["xray", "mri"])
    future = refused(
        clinic,
        InvalidData,
        case_id,
        "assess",
        values,
        "surgeon",
        at=utcnow() + timedelta(minutes=5),
    )
    assert "in the future" in future
    early = refused(
        clinic, InvalidData, case_id, "assess", values, "surgeon", at=opened - timedelta(seconds=1)
    )
    assert "before the case's previous entry" in early
    assert clinic.fire(case_id, "assess", values, "surgeon", at=opened).case.state == (
        "marrow_collection"
    )


# -- follow-up and closing ---------------------------------------------------------------------


def injected_case(clinic: Clinic) -> int:
    """A case injected 799 days ago, its late entries' deviations reviewed (issue 17)."""
    case_id = clinic.open(at=utcnow() - timedelta(days=800))
    advance_to(clinic, case_id, "follow_up", start=utcnow() - timedelta(days=799))
    assert clinic.review_deviations() == 8  # one per entry: open, assess and six steps
    return case_id


def visit(clinic: Clinic, case_id: int, name: str, **extra: Any) -> Any:
    return clinic.fire(case_id, "record_follow_up", {"visit": name, "vas": 3, **extra})


def test_a_scheduled_visit_is_recorded_once_but_adhoc_visits_as_often_as_needed(
    clinic: Clinic,
) -> None:
    case_id = injected_case(clinic)
    visit(clinic, case_id, "1w", koos=55, womac=30, adverse_events=["effusion", "warmth"])
    message = refused(clinic, NotAllowed, case_id, "record_follow_up", {"visit": "1w", "vas": 2})
    assert "already recorded" in message and "adhoc" in message
    visit(clinic, case_id, "adhoc")
    visit(clinic, case_id, "adhoc")
    row = timeline(clinic, case_id)[-3]
    assert row["data"]["adverse_events"] == ["effusion", "warmth"]
    assert row["data"]["koos"] == 55 and row["data"]["womac"] == 30
    assert status(clinic, case_id)["visits_recorded"] == ["1w"]


def test_a_case_cannot_close_before_the_follow_up_is_finished_without_a_reason(
    clinic: Clinic,
) -> None:
    case_id = injected_case(clinic)
    message = refused(clinic, NotAllowed, case_id, "close", who="surgeon")
    assert "--reason" in message
    blank = refused(clinic, InvalidData, case_id, "close", who="surgeon", reason="   ")
    assert "empty" in blank
    closed = clinic.fire(case_id, "close", who="surgeon", reason="lost to follow-up")
    assert closed.case.state == "closed"
    assert status(clinic, case_id)["end_reason"] == "lost to follow-up"


def test_a_case_closes_without_a_reason_once_the_24_month_visit_is_recorded(
    clinic: Clinic,
) -> None:
    case_id = injected_case(clinic)
    for name in ("1w", "1m", "3m", "6m", "12m"):
        visit(clinic, case_id, name)
    assert status(clinic, case_id)["next_visit"]["visit"] == "24m"
    visit(clinic, case_id, "24m")
    seen = status(clinic, case_id)
    assert seen["follow_up_complete"] is True
    assert seen["next_command"] == f"bmac case close {case_id}"
    assert clinic.fire(case_id, "close", who="surgeon").case.state == "closed"


def test_a_case_closes_without_a_reason_after_an_arthroplasty(clinic: Clinic) -> None:
    case_id = injected_case(clinic)
    visit(clinic, case_id, "1w")
    visit(clinic, case_id, "adhoc", arthroplasty=True)
    assert status(clinic, case_id)["next_visit"] is None
    assert clinic.fire(case_id, "close", who="surgeon").case.state == "closed"


def test_only_a_surgeon_closes_a_case(clinic: Clinic) -> None:
    case_id = injected_case(clinic)
    refused(clinic, NotPermitted, case_id, "close", who="nurse", reason="lost to follow-up")


# -- computed values and the protocol a case runs under ------------------------------------


def test_the_concentration_factor_is_computed_from_aspirate_and_concentrate(
    clinic: Clinic,
) -> None:
    case_id = clinic.open()
    advance_to(clinic, case_id, "concentration")
    typed = {"concentrate_ml": 6, "concentration_factor": 99}
    refused(clinic, InvalidData, case_id, "concentrate", typed)
    change = clinic.fire(case_id, "concentrate", {"concentrate_ml": 8})
    assert change.entry.data["concentration_factor"] == 7.5  # 60 mL / 8 mL
    assert status(clinic, case_id)["concentration_factor"] == 7.5


def test_a_case_records_the_version_and_hash_of_its_protocol(clinic: Clinic) -> None:
    case_id = clinic.open()
    first = timeline(clinic, case_id)[0]["data"]
    assert first["protocol_version"] == clinic.protocol.version
    assert first["protocol_sha256"] == clinic.protocol.sha256
    with clinic.engine.connect() as conn:
        stored = conn.execute(select(tables.protocols.c.content)).scalars().all()
    assert stored == [clinic.protocol.content]
    assert status(clinic, case_id)["protocol_version"] == clinic.protocol.version


# -- reading a case back (the repository) -----------------------------------------------------


@pytest.mark.parametrize("state", ["imaging_assessment", "filtering", "follow_up"])
def test_the_case_row_reads_back_as_a_replay_of_its_log_in_every_state(
    clinic: Clinic, state: str
) -> None:
    case_id = clinic.open()
    advance_to(clinic, case_id, state)
    with clinic.uow(write=False) as uow:
        found = uow.repo.get_case(case_id)
        assert found is not None
        case, protocol_id = found
        protocol = uow.repo.protocol(protocol_id)
        log = [entry for entry, _ in uow.repo.entries(case_id)]
    assert case.state == state
    assert case == replay(log)
    assert protocol.sha256 == clinic.protocol.sha256
    assert status(clinic, case_id)["entries"] == case.version == len(log)


def test_a_missing_case_and_one_whose_opening_never_finished_are_not_found(
    clinic: Clinic,
) -> None:
    with clinic.uow() as uow:
        protocol_id = uow.repo.protocol_id(clinic.protocol, iso(utcnow()))
        unfinished = uow.repo.reserve_case("P-0009", "left", protocol_id, iso(utcnow()))
        uow.commit()
    for case_id in (unfinished, unfinished + 1):
        with clinic.uow(write=False) as uow:
            assert uow.repo.get_case(case_id) is None
        with pytest.raises(NotFound) as missing:
            status(clinic, case_id)
        assert missing.value.exit_code == 3


def test_a_busy_database_is_a_conflict_and_the_read_is_rolled_back(clinic: Clinic) -> None:
    from sqlalchemy.exc import OperationalError

    with pytest.raises(Conflict, match="stayed busy"), clinic.uow(write=False) as uow:
        uow.repo.get_case(1)
        assert uow.in_transaction()
        raise OperationalError("SELECT", {}, Exception("database is locked"))
    assert not uow.in_transaction()


# -- property: what is accepted is valid, what is refused changes nothing ------------------


# Mostly plausible values, so that whole chains get accepted; sometimes not, so that every
# kind of refusal is met. Each volume is a share of the one before it.
SHARE = st.floats(min_value=0.3, max_value=1) | st.floats(min_value=0, max_value=1.3)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    aspirate=st.one_of(
        st.floats(20, 240), st.floats(0.5, 250), st.sampled_from([float("nan"), -1.0])
    ),
    shares=st.tuples(SHARE, SHARE, SHARE, SHARE),
    spins=st.integers(1, 3) | st.integers(0, 4),
    vas=st.floats(0, 10) | st.floats(-1, 11),
)
def test_accepted_steps_keep_the_chain_and_refused_ones_change_nothing(
    clinic: Clinic,
    aspirate: float,
    shares: tuple[float, float, float, float],
    spins: int,
    vas: float,
) -> None:
    case_id = clinic.open()
    advance_to(clinic, case_id, "marrow_collection")
    filtered = aspirate * shares[0]
    plasma = filtered * shares[1]
    concentrate = (filtered - plasma) * shares[2]
    typed = {
        "aspirate_ml": aspirate,
        "filtered_ml": filtered,
        "spins": spins,
        "plasma_removed_ml": plasma,
        "concentrate_ml": concentrate,
        "injected_ml": concentrate * shares[3],
    }
    plan = [
        (trigger, who, {**values, **{k: v for k, v in typed.items() if k in values}})
        for trigger, who, values in steps_from("marrow_collection", case_id)
    ]
    plan.append(("record_follow_up", "nurse", {"visit": "1w", "vas": vas}))
    for trigger, who, values in plan:
        before = snapshot(clinic)
        try:
            clinic.fire(case_id, trigger, values, who, verifier=values.get("verifier_id"))
        except InvalidData:
            assert snapshot(clinic) == before
            event(f"refused at {trigger}")
            return
    event("every step accepted")
    entries = tables.entries.c
    query = select(entries.body).where(entries.case_id == case_id).order_by(entries.seq)
    with clinic.engine.connect() as conn:
        bodies = conn.execute(query).scalars()
        data = {}
        for body in bodies:
            entry = json.loads(body)
            data.update(entry["data"])
    protocol = clinic.protocol
    for name in ("aspirate_ml", "filtered_ml", "plasma_removed_ml", "concentrate_ml"):
        low, high = protocol.range(name)
        assert low <= data[name] <= high
    assert 1 <= data["spins"] <= 3
    assert 0 <= data["vas"] <= 10
    assert data["filtered_ml"] <= data["aspirate_ml"]
    assert data["concentrate_ml"] <= data["filtered_ml"] - data["plasma_removed_ml"]
    assert data["injected_ml"] <= data["concentrate_ml"]
    assert data["concentration_factor"] == round(data["aspirate_ml"] / data["concentrate_ml"], 2)
