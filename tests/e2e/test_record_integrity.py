"""The hash chain catches an altered entry, even when the append-only trigger is dropped."""

from __future__ import annotations

import json

from sqlalchemy import text

from tests.conftest import Bmac, Clinic, advance_to


def drop_update_trigger(clinic: Clinic) -> None:
    with clinic.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER entries_no_update"))
        else:
            conn.execute(text("DROP TRIGGER entries_no_change ON entries"))


def test_a_full_case_has_a_timeline_with_the_spec_fields_and_verifies(
    bmac: Bmac, clinic: Clinic
) -> None:
    case_id = clinic.open()
    advance_to(clinic, case_id, "follow_up")
    timeline = json.loads(bmac("case", "timeline", str(case_id), "--json").stdout)
    assert [row["seq"] for row in timeline] == list(range(1, 9))
    for row in timeline:
        assert {"seq", "at", "operator", "role", "action", "from_state", "to_state", "data"} <= set(
            row
        )
    assert timeline[-1]["action"] == "inject" and timeline[-1]["to_state"] == "follow_up"
    assert bmac("audit", "verify").exit_code == 0


def test_changing_one_byte_of_an_entry_makes_verify_exit_8_naming_case_and_seq(
    bmac: Bmac, clinic: Clinic
) -> None:
    case_id = clinic.open()
    advance_to(clinic, case_id, "injection")
    drop_update_trigger(clinic)
    with clinic.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE entries SET body = replace(body, :old, :new) WHERE case_id = :c AND seq = 4"
            ),
            {"c": case_id, "old": '"filtered_ml":55.0', "new": '"filtered_ml":56.0'},
        )
    result = bmac("audit", "verify")
    assert result.exit_code == 8
    assert f"case {case_id}, seq 4" in result.stderr
    assert f"case {case_id}, seq 4" in result.stdout


def test_the_log_refuses_raw_updates_while_its_trigger_stands(clinic: Clinic) -> None:
    case_id = clinic.open()
    try:
        with clinic.engine.begin() as conn:
            conn.execute(text("UPDATE entries SET hash = 'x' WHERE case_id = :c"), {"c": case_id})
    except Exception as exc:  # the database's own refusal
        assert "append-only" in str(exc)
    else:
        raise AssertionError("the UPDATE went through")
