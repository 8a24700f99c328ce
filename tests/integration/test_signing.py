"""Sign-in, lockout and electronic signatures against a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from bmac_workflow import keys
from bmac_workflow.errors import BmacError, InvalidData, NotPermitted
from bmac_workflow.operators import Operator
from bmac_workflow.record import Entry, digest
from bmac_workflow.services import cases, operators, site_settings
from bmac_workflow.services.signing import Credentials, record, sign_in
from bmac_workflow.states import workflow
from bmac_workflow.store import tables
from bmac_workflow.store.database import Database
from bmac_workflow.timeutil import iso, utcnow
from tests.conftest import Clinic, advance_to
from tests.walk import PINS, ROLE_OF, happy_steps, step_values

WRONG = "not-the-pin"
NEW_PIN = "New-pin-5521"


def events(clinic: Clinic, operator_id: str) -> list[dict[str, Any]]:
    """The operator's history, oldest first."""
    history = tables.operator_events.c
    query = (
        select(history.action, history.at, history.by_operator, history.detail)
        .where(history.operator_id == operator_id)
        .order_by(history.id)
    )
    with clinic.engine.connect() as conn:
        rows = conn.execute(query).mappings()
        return [{**row, "detail": json.loads(row["detail"])} for row in rows]


def stored(clinic: Clinic, operator_id: str) -> Operator:
    with clinic.uow(write=False) as uow:
        found = uow.repo.operator(operator_id)
    assert found is not None
    return found


def try_pin(
    clinic: Clinic, operator_id: str, pin: str, now: datetime, new_pin: str | None = None
) -> BmacError | Operator:
    """Sign in as a command does: check the PIN, then write what the sign-in changes on the
    operator in the command's unit of work. The refusal, or the operator as stored after."""
    chosen = (lambda: new_pin) if new_pin is not None else None
    try:
        signed = sign_in(Credentials(operator_id, lambda: pin, chosen), now, clinic.db)
        with clinic.db.write() as uow:
            record(signed, now, uow)
            uow.commit()
    except BmacError as exc:
        return exc
    return stored(clinic, operator_id)


def at(now: datetime) -> Callable[[], datetime]:
    """A clock that shows `now`."""
    return lambda: now


def lock(clinic: Clinic, operator_id: str, now: datetime, wrong_pins: int = 5) -> None:
    for _ in range(wrong_pins):
        assert isinstance(try_pin(clinic, operator_id, WRONG, now), NotPermitted)


def actions(clinic: Clinic, operator_id: str) -> list[str]:
    return [e["action"] for e in events(clinic, operator_id)]


# -- sign-in and lockout -------------------------------------------------------------------


def test_a_wrong_pin_is_refused_with_6_and_its_count_is_stored(clinic: Clinic) -> None:
    result = try_pin(clinic, "nurse", WRONG, utcnow())
    assert isinstance(result, NotPermitted) and result.exit_code == 6
    assert "4 tries left" in result.message and WRONG not in result.message
    assert stored(clinic, "nurse").failed_pins == 1


def test_five_wrong_pins_lock_the_operator_and_record_the_lock_once(clinic: Clinic) -> None:
    now = utcnow()
    lock(clinic, "nurse", now)
    nurse = stored(clinic, "nurse")
    assert nurse.failed_pins == 5
    assert nurse.locked_until == iso(now + timedelta(minutes=15))
    locked = [e for e in events(clinic, "nurse") if e["action"] == "locked"]
    assert len(locked) == 1
    assert locked[0]["at"] == iso(now)
    assert locked[0]["detail"] == {"failed_pins": 5, "locked_until": nurse.locked_until}


def test_a_locked_operator_is_refused_with_the_right_pin_until_the_period_ends(
    clinic: Clinic,
) -> None:
    now = utcnow()
    lock(clinic, "nurse", now)
    refused = try_pin(clinic, "nurse", PINS["nurse"], now + timedelta(minutes=14))
    assert isinstance(refused, NotPermitted) and "locked" in refused.message
    assert actions(clinic, "nurse") == ["added", "locked"]
    later = now + timedelta(minutes=15, seconds=1)
    signed = try_pin(clinic, "nurse", PINS["nurse"], later)
    assert isinstance(signed, Operator) and signed.id == "nurse"
    assert actions(clinic, "nurse") == ["added", "locked", "unlocked"]
    unlocked = events(clinic, "nurse")[-1]
    assert unlocked["at"] == iso(later)
    assert unlocked["detail"]["reason"] == "lock period passed"
    nurse = stored(clinic, "nurse")
    assert (nurse.failed_pins, nurse.locked_until) == (0, None)


def test_the_release_is_recorded_even_when_the_next_pin_is_wrong(clinic: Clinic) -> None:
    now = utcnow()
    lock(clinic, "nurse", now)
    later = now + timedelta(minutes=20)
    refused = try_pin(clinic, "nurse", WRONG, later)
    assert isinstance(refused, NotPermitted) and "wrong PIN" in refused.message
    assert actions(clinic, "nurse") == ["added", "locked", "unlocked"]
    nurse = stored(clinic, "nurse")
    assert (nurse.failed_pins, nurse.locked_until) == (1, None)


def test_the_limit_and_the_period_are_the_site_settings_an_admin_signed(clinic: Clinic) -> None:
    admin = clinic.credentials("admin")
    site_settings.change("max_failed_pins", "3", admin, utcnow, clinic.db)
    site_settings.change("lock_minutes", "2", admin, utcnow, clinic.db)
    now = utcnow()
    lock(clinic, "nurse", now, wrong_pins=3)
    assert stored(clinic, "nurse").locked_until == iso(now + timedelta(minutes=2))
    assert isinstance(try_pin(clinic, "nurse", PINS["nurse"], now + timedelta(minutes=3)), Operator)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("max_failed_pins", "1000000"),
        ("max_failed_pins", "11"),
        ("max_failed_pins", "2"),
        ("lock_minutes", "1e8"),
        ("lock_minutes", "61"),
        ("lock_minutes", "0"),
        ("lock_minutes", "1e20"),
        ("lock_minutes", "nan"),
    ],
)
def test_no_setting_goes_past_its_bound_and_nothing_is_written(
    clinic: Clinic, name: str, value: str
) -> None:
    before = clinic.counts()
    with pytest.raises(InvalidData) as refused:
        site_settings.change(name, value, clinic.credentials("admin"), utcnow, clinic.db)
    assert refused.value.exit_code == 5 and name in refused.value.message
    assert clinic.counts() == before


def test_only_an_admin_changes_a_setting(clinic: Clinic) -> None:
    with pytest.raises(NotPermitted):
        site_settings.change(
            "max_failed_pins", "10", clinic.credentials("nurse"), utcnow, clinic.db
        )
    assert [s["value"] for s in site_settings.show(clinic.db)][:2] == [5, 15]


def test_a_right_pin_clears_the_count_of_earlier_wrong_ones(clinic: Clinic) -> None:
    now = utcnow()
    for _ in range(4):
        try_pin(clinic, "nurse", WRONG, now)
    assert isinstance(try_pin(clinic, "nurse", PINS["nurse"], now), Operator)
    assert stored(clinic, "nurse").failed_pins == 0
    for _ in range(4):
        try_pin(clinic, "nurse", WRONG, now)
    assert stored(clinic, "nurse").locked_until is None


def test_an_unknown_operator_cannot_sign_in(clinic: Clinic) -> None:
    result = try_pin(clinic, "nobody", PINS["nurse"], utcnow())
    assert isinstance(result, NotPermitted) and "no operator 'nobody'" in result.message


def test_a_deactivated_operator_can_no_longer_sign_and_keeps_their_history(
    clinic: Clinic,
) -> None:
    case_id = clinic.open()
    now = utcnow()
    operators.deactivate("nurse", clinic.credentials("admin"), at(now), clinic.db)
    result = try_pin(clinic, "nurse", PINS["nurse"], now)
    assert isinstance(result, NotPermitted) and "deactivated" in result.message
    assert stored(clinic, "nurse").failed_pins == 0
    with clinic.uow(write=False) as uow:
        ((first, _),) = uow.repo.entries(case_id)
    assert (first.signer.id, first.signer.name) == ("nurse", "Nurse Name")
    assert actions(clinic, "nurse") == ["added", "deactivated"]


def test_a_pin_reset_gives_a_new_key_lifts_the_lock_and_records_who_released_it(
    clinic: Clinic,
) -> None:
    now = utcnow()
    old_key = stored(clinic, "nurse").public_key
    lock(clinic, "nurse", now)
    operators.reset_pin(
        "nurse", lambda: "Reset-7710", clinic.credentials("admin"), at(now), clinic.db
    )
    assert actions(clinic, "nurse") == ["added", "locked", "pin_reset", "unlocked"]
    assert events(clinic, "nurse")[-1]["by_operator"] == "admin"
    assert events(clinic, "nurse")[-1]["detail"]["reason"] == "PIN reset by an admin"
    nurse = stored(clinic, "nurse")
    assert nurse.public_key != old_key and nurse.must_change_pin
    assert isinstance(try_pin(clinic, "nurse", PINS["nurse"], now), NotPermitted)


def test_after_a_reset_the_operator_must_choose_a_new_pin_before_signing(clinic: Clinic) -> None:
    now = utcnow()
    operators.reset_pin(
        "nurse", lambda: "Reset-7710", clinic.credentials("admin"), at(now), clinic.db
    )
    refused = try_pin(clinic, "nurse", "Reset-7710", now)
    assert isinstance(refused, NotPermitted) and "must choose a new PIN" in refused.message
    weak = try_pin(clinic, "nurse", "Reset-7710", now, new_pin="123456")
    assert isinstance(weak, InvalidData) and "run" in weak.message
    assert stored(clinic, "nurse").must_change_pin
    signed = try_pin(clinic, "nurse", "Reset-7710", now, new_pin=NEW_PIN)
    assert isinstance(signed, Operator) and not signed.must_change_pin
    # The admin's PIN is spent: only the one the operator chose opens their key now.
    assert isinstance(try_pin(clinic, "nurse", "Reset-7710", now), NotPermitted)
    assert isinstance(try_pin(clinic, "nurse", NEW_PIN, now), Operator)


def test_an_admin_unlocks_a_locked_operator_as_a_signed_act(clinic: Clinic) -> None:
    now = utcnow()
    lock(clinic, "nurse", now)
    before = clinic.count("registry")
    operators.unlock("nurse", clinic.credentials("admin"), at(now), clinic.db)
    assert clinic.count("registry") == before + 1
    assert actions(clinic, "nurse") == ["added", "locked", "unlocked"]
    assert events(clinic, "nurse")[-1]["detail"]["reason"] == "unlocked by an admin"
    assert isinstance(try_pin(clinic, "nurse", PINS["nurse"], now), Operator)
    with pytest.raises(InvalidData, match="is not locked"):
        operators.unlock("nurse", clinic.credentials("admin"), at(now), clinic.db)
    with pytest.raises(NotPermitted):
        operators.unlock("nurse2", clinic.credentials("surgeon"), at(now), clinic.db)


def test_a_pin_reset_after_an_unnoticed_lock_end_still_closes_the_lock(clinic: Clinic) -> None:
    now = utcnow() - timedelta(hours=1)
    lock(clinic, "nurse", now)
    operators.reset_pin("nurse", lambda: NEW_PIN, clinic.credentials("admin"), utcnow, clinic.db)
    assert actions(clinic, "nurse") == ["added", "locked", "pin_reset", "unlocked"]
    assert events(clinic, "nurse")[-1]["detail"]["reason"] == "lock period passed"


def test_the_operator_history_is_append_only(clinic: Clinic) -> None:
    from sqlalchemy.exc import DatabaseError

    with pytest.raises(DatabaseError), clinic.engine.begin() as conn:
        conn.execute(text("DELETE FROM operator_events WHERE action = 'added'"))
    assert actions(clinic, "nurse") == ["added"]


# -- signatures ----------------------------------------------------------------------------


def entries(clinic: Clinic, case_id: int) -> list[tuple[Entry, str]]:
    with clinic.uow(write=False) as uow:
        return uow.repo.entries(case_id)


def test_every_entry_of_a_full_case_is_signed_with_name_role_and_meaning(clinic: Clinic) -> None:
    case_id = clinic.open()
    advance_to(clinic, case_id, "follow_up")
    clinic.fire(case_id, "record_follow_up", {"visit": "1w", "vas": 4})
    clinic.fire(case_id, "close", who="surgeon", reason="lost to follow-up")
    signed = [
        (e.action, e.signer.id, e.signer.name, e.signer.role, e.signer.meaning)
        for e, _ in entries(clinic, case_id)
    ]
    walk = [
        (trigger, who, f"{who.title()} Name", ROLE_OF[who], workflow().by_trigger[trigger].meaning)
        for trigger, who, _ in happy_steps(case_id)
    ]
    assert signed == [
        ("open", "nurse", "Nurse Name", "nurse", "performed"),
        *walk,
        ("record_follow_up", "nurse", "Nurse Name", "nurse", "performed"),
        ("close", "surgeon", "Surgeon Name", "surgeon", "performed"),
    ]
    by_action = {action: signature for action, *signature in signed}
    assert by_action["assess"] == ["surgeon", "Surgeon Name", "surgeon", "assessed"]
    assert by_action["inject"] == ["surgeon", "Surgeon Name", "surgeon", "performed"]
    for trigger, who, _, _, meaning in walk:
        if trigger not in ("assess", "inject"):  # the processing, by the nurse
            assert (who, meaning) == ("nurse", "performed"), trigger
    inject = next(e for e, _ in entries(clinic, case_id) if e.action == "inject")
    assert inject.verifier is not None
    assert (
        inject.verifier.id,
        inject.verifier.name,
        inject.verifier.role,
        inject.verifier.meaning,
    ) == ("nurse2", "Nurse2 Name", "nurse", "verified")
    assert all(e.verifier is None for e, _ in entries(clinic, case_id) if e.action != "inject")


def test_both_signatures_are_inside_the_hashed_canonical_form(clinic: Clinic) -> None:
    case_id = clinic.open()
    advance_to(clinic, case_id, "follow_up")
    for entry, entry_hash in entries(clinic, case_id):
        body = json.loads(entry.body())
        assert digest(entry.body()) == entry_hash
        assert set(body["signer"]) == {"id", "name", "role", "meaning", "key"}
        signatures = entry.signatures or {}
        assert keys.verifies(entry.signer.key, entry.content(), signatures["signer"])
        # Changing who signed, or what the signature meant, changes the hash and breaks the
        # signature (which does not sign itself, only the content).
        for field, value in (("name", "Someone Else"), ("role", "admin"), ("meaning", "verified")):
            forged = replace(entry, signer=replace(entry.signer, **{field: value}))
            assert digest(forged.body()) != entry_hash
            assert not keys.verifies(entry.signer.key, forged.content(), signatures["signer"])
        if entry.verifier is not None:
            forged = replace(entry, verifier=replace(entry.verifier, id="surgeon"))
            assert digest(forged.body()) != entry_hash
            assert not keys.verifies(entry.verifier.key, forged.content(), signatures["verifier"])


def test_a_candidacy_override_is_signed_as_overridden(clinic: Clinic) -> None:
    case_id = clinic.open()
    values = {
        **step_values("assess", case_id),
        "kl_grade": 1,
        "override_reason": "symptoms far beyond the imaging",
    }
    change = clinic.fire(case_id, "assess", values, who="surgeon")
    assert change.case.state == "marrow_collection"
    assert change.entry.signer.meaning == "overridden"
    plain = clinic.open("P-0002")
    assert (
        clinic.fire(
            plain, "assess", step_values("assess", plain), who="surgeon"
        ).entry.signer.meaning
        == "assessed"
    )


def test_an_injection_past_the_window_is_signed_as_overridden(clinic: Clinic) -> None:
    start = utcnow() - timedelta(hours=4)
    case_id = clinic.open(at=start)
    advance_to(clinic, case_id, "injection", start=start + timedelta(minutes=1))
    change = clinic.fire(
        case_id,
        "inject",
        {**step_values("inject", case_id), "override_reason": "theatre delay"},
        who="surgeon",
        verifier="nurse2",
    )
    assert change.entry.signer.meaning == "overridden"
    assert change.entry.verifier is not None and change.entry.verifier.meaning == "verified"


def test_a_cancellation_is_signed_as_cancelled(clinic: Clinic) -> None:
    case_id = clinic.open()
    change = clinic.fire(case_id, "cancel", who="surgeon", reason="patient withdrew consent")
    assert change.entry.signer.meaning == "cancelled"


# -- the second person at the injection ------------------------------------------------------


@pytest.mark.parametrize(
    "verifier",
    ["surgeon", "auditor", "admin", "inactive nurse2"],
    ids=["the-operator-themselves", "an-auditor", "an-admin", "a-deactivated-nurse"],
)
def test_an_injection_without_a_valid_second_person_is_refused_and_writes_nothing(
    clinic: Clinic, verifier: str
) -> None:
    case_id = clinic.open()
    advance_to(clinic, case_id, "injection")
    person = verifier.removeprefix("inactive ")
    if verifier.startswith("inactive"):
        operators.deactivate(person, clinic.credentials("admin"), utcnow, clinic.db)
    before = clinic.counts()
    with pytest.raises(NotPermitted) as info:
        clinic.fire(
            case_id,
            "inject",
            {**step_values("inject", case_id), "verifier_id": person},
            who="surgeon",
            verifier=person,
        )
    assert info.value.exit_code == 6 and "verifier" in info.value.message
    assert clinic.counts() == before


def test_an_injection_with_no_verifier_at_all_is_refused(clinic: Clinic) -> None:
    case_id = clinic.open()
    advance_to(clinic, case_id, "injection")
    with pytest.raises(NotPermitted):
        clinic.fire(case_id, "inject", step_values("inject", case_id), who="surgeon", verifier=None)


def test_a_surgeon_may_verify_another_surgeons_injection(clinic: Clinic) -> None:
    operators.add_operator(
        "dr.two",
        "Second Surgeon",
        "surgeon",
        lambda: "731904",
        clinic.credentials("admin"),
        utcnow,
        clinic.db,
    )
    case_id = clinic.open()
    advance_to(clinic, case_id, "injection")
    values = {**step_values("inject", case_id), "verifier_id": "dr.two"}
    change = cases.log_step(
        cases.StepRequest(case_id, "inject", values),
        clinic.credentials("surgeon"),
        utcnow,
        clinic.db,
        Credentials("dr.two", lambda: "731904"),
    )
    assert change.entry.verifier is not None
    assert (change.entry.verifier.id, change.entry.verifier.role) == ("dr.two", "surgeon")


def test_an_override_just_past_the_window_is_still_signed_as_overridden(clinic: Clinic) -> None:
    # 120 min 2 s after the harvest: past the 120-minute window, though it rounds to 120.0.
    start = utcnow() - timedelta(hours=3)
    case_id = clinic.open(at=start - timedelta(minutes=1))
    advance_to(clinic, case_id, "injection", start=start)
    with clinic.uow(write=False) as uow:
        found = uow.repo.get_case(case_id)
    assert found is not None and found[0].harvested_at is not None
    harvest = datetime.fromisoformat(found[0].harvested_at)
    values = {**step_values("inject", case_id), "override_reason": "theatre delay"}
    change = clinic.fire(
        case_id,
        "inject",
        values,
        who="surgeon",
        at=harvest + timedelta(minutes=120, seconds=2),
        verifier="nurse2",
    )
    assert change.entry.signer.meaning == "overridden"


def test_wrong_pins_typed_at_the_same_time_on_many_workstations_all_count(
    clinic: Clinic,
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    site_settings.change("max_failed_pins", "10", clinic.credentials("admin"), utcnow, clinic.db)
    now = utcnow()

    def one(_: int) -> None:
        # Each workstation is a command of its own, with its own connection to the database.
        workstation = Database.open(clinic.url)
        try:
            with pytest.raises(NotPermitted):
                sign_in(Credentials("nurse", lambda: WRONG), now, workstation)
        finally:
            workstation.dispose()

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, range(16)))
    # Ten count and lock, once; the six typed while locked neither count nor lengthen the lock.
    nurse = stored(clinic, "nurse")
    assert (nurse.failed_pins, nurse.locked_until) == (10, iso(now + timedelta(minutes=15)))
    assert actions(clinic, "nurse") == ["added", "locked"]
