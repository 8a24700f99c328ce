"""Issue 15, time: back-dating is late and kept in sight, refused attempts are kept, one clock,
DST and the range of `--at` (docs/clinical-rules.md "Time"). On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from bmac_workflow.migrations.append_only import unprotect
from sqlalchemy import text

from bmac_workflow.timeutil import iso, utcnow
from tests.conftest import Bmac, Clinic, late_reason_for
from tests.walk import step_args


def ok(result: Any) -> Any:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def fails(result: Any, code: int, *words: str) -> str:
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def at(value: datetime) -> list[str]:
    reason = late_reason_for(value)
    return ["--at", iso(value), *(["--late-reason", reason] if reason else [])]


def rows(clinic: Clinic) -> dict[str, int]:
    return {**clinic.counts(), "refusals": clinic.count("refusals")}


def ready_to_inject(bmac: Bmac, harvest: datetime) -> str:
    """A case harvested at `harvest` whose concentrate is ready (every step back-dated)."""
    case = ok(bmac("case", "open", "--patient", "P-0042", "--knee", "left",
                   *at(harvest - timedelta(minutes=30)), who="nurse")).stdout.strip()  # fmt: skip
    ok(bmac(*step_args("assess", int(case)), *at(harvest - timedelta(minutes=20)), who="surgeon"))
    for n, trigger in enumerate(
        ("collect", "filter", "centrifuge", "remove_plasma", "concentrate")
    ):
        ok(
            bmac(
                *step_args(trigger, int(case)), *at(harvest + timedelta(minutes=5 * n)), who="nurse"
            )
        )
    return case


def test_backdating_past_the_window_is_refused_kept_and_needs_a_late_reason(bmac: Bmac) -> None:
    """Acceptance 2: refused at 298 min; retried with --at 190 min ago, refused without
    --late-reason; with it, accepted and shown late; the refused attempt is in the timeline
    and the export."""
    now = utcnow()
    case = ready_to_inject(bmac, now - timedelta(minutes=298))
    inject = step_args("inject", int(case))
    fails(bmac(*inject, who="surgeon"), 6, "window passed", "298 min")
    backdated = ["--at", iso(now - timedelta(minutes=190))]
    fails(bmac(*inject, *backdated, who="surgeon"), 5, "--late-reason", "190 min")
    reason = "entered from the paper sheet after theatre"
    ok(bmac(*inject, *backdated, "--late-reason", reason, who="surgeon"))
    status = json.loads(ok(bmac("case", "status", case, "--json")).stdout)
    assert status["state"] == "follow_up" and status["late_entries"][-1] == status["entries"]
    assert "logged late" in ok(bmac("case", "status", case)).stdout
    timeline = json.loads(ok(bmac("case", "timeline", case, "--json")).stdout)
    injected = timeline[-1]
    assert injected["action"] == "inject" and injected["late"]["reason"] == reason
    assert injected["late"]["minutes"] >= 190
    (refusal,) = [r for r in timeline if r["kind"] == "refusal"]
    assert refusal["rule"] == "harvest-to-injection window" and refusal["action"] == "inject"
    assert refusal["from_state"] == refusal["to_state"] == "injection"
    assert refusal["operator"] == "surgeon" and refusal["meaning"] == "attempted"
    text_lines = ok(bmac("case", "timeline", case)).stdout
    assert "REFUSED (harvest-to-injection window)" in text_lines and "LATE:" in text_lines
    exported = json.loads(ok(bmac("audit", "export", case, "--format", "json")).stdout)
    assert [json.loads(r["body"])["rule"] for r in exported["refusals"]] == [refusal["rule"]]
    table = list(csv.DictReader(io.StringIO(ok(bmac("audit", "export", case, "--format",
                                                     "csv")).stdout)))  # fmt: skip
    assert [r["action"] for r in table if r["seq"] == "R1"] == ["refused:inject"]
    assert [r["late_reason"] for r in table if r["action"] == "inject"] == [reason]
    fhir = json.loads(ok(bmac("audit", "export", case, "--format", "fhir")).stdout)
    provenance = [e["resource"] for e in fhir["entry"]
                  if e["resource"]["resourceType"] == "Provenance"]  # fmt: skip
    assert any("[late:" in p["activity"]["text"] for p in provenance)
    ok(bmac("audit", "verify", "--full"))


def test_a_late_reason_on_an_entry_on_time_or_empty_is_refused(bmac: Bmac, clinic: Clinic) -> None:
    before = rows(clinic)
    fails(bmac("case", "open", "--patient", "P-1", "--knee", "left", "--late-reason", "x",
               who="nurse"), 5, "on time")  # fmt: skip
    ago = ["--at", iso(utcnow() - timedelta(hours=2))]
    fails(bmac("case", "open", "--patient", "P-1", "--knee", "left", *ago, "--late-reason", " ",
               who="nurse"), 5, "empty")  # fmt: skip
    assert rows(clinic) == before


@pytest.mark.parametrize(
    ("when", "words"),
    [
        ("0001-01-01T00:00Z", ["before 2000-01-01"]),
        ("1900-06-01T08:00", ["before 2000-01-01"]),
        ("9999-12-31T23:59", []),
        ("9999-12-31T23:59-05:00", ["out of range"]),
    ],
)
def test_an_at_before_2000_or_beyond_any_date_is_exit_5_and_writes_nothing(
    bmac: Bmac, clinic: Clinic, when: str, words: list[str]
) -> None:
    before = rows(clinic)
    fails(bmac("case", "open", "--patient", "P-1", "--knee", "left", "--at", when, who="nurse"),
          5, *words)  # fmt: skip
    assert rows(clinic) == before


def test_an_at_before_the_cases_opening_is_exit_5(bmac: Bmac, clinic: Clinic) -> None:
    opened = utcnow() - timedelta(minutes=10)
    case = ok(bmac("case", "open", "--patient", "P-1", "--knee", "left", "--at", iso(opened),
                   who="nurse")).stdout.strip()  # fmt: skip
    before = rows(clinic)
    earlier = ["--at", iso(opened - timedelta(minutes=1))]
    fails(bmac(*step_args("assess", int(case)), *earlier, who="surgeon"), 5, "previous entry")
    assert rows(clinic) == before


@pytest.mark.parametrize(
    ("zone", "wall", "words"),
    [
        ("America/New_York", "2026-03-08T02:30", ["does not exist", "-05:00", "-04:00"]),
        ("America/New_York", "2026-11-01T01:30", ["ambiguous", "-04:00", "-05:00"]),
        ("Europe/Berlin", "2026-03-29T02:30", ["does not exist", "+01:00", "+02:00"]),
        ("Europe/Berlin", "2026-10-25T02:30", ["ambiguous", "+02:00", "+01:00"]),
        ("Australia/Sydney", "2026-10-04T02:30", ["does not exist", "+10:00", "+11:00"]),
        ("Australia/Sydney", "2026-04-05T02:30", ["ambiguous", "+11:00", "+10:00"]),
    ],
)
def test_a_local_time_the_clocks_skipped_or_repeated_is_exit_5_naming_the_offsets(
    bmac: Bmac, clinic: Clinic, monkeypatch: pytest.MonkeyPatch, zone: str, wall: str,
    words: list[str],
) -> None:  # fmt: skip
    import time

    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        before = rows(clinic)
        fails(bmac("case", "open", "--patient", "P-1", "--knee", "left", "--at", wall,
                   who="nurse"), 5, *words)  # fmt: skip
        assert rows(clinic) == before
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_workstation_clock_set_back_cannot_log_before_the_cases_last_entry(
    bmac: Bmac, clinic: Clinic, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite: a clock set back is refused, with or without --at. PostgreSQL: within the bound
    the server's clock is the record's, so the entry keeps its order all the same."""
    case = ok(bmac("case", "open", "--patient", "P-1", "--knee", "left", who="nurse")).stdout
    before = rows(clinic)
    from bmac_workflow.cli.app import App

    monkeypatch.setattr(App, "now", lambda self: utcnow() - timedelta(minutes=1, seconds=30))
    assess = step_args("assess", int(case.strip()))
    if clinic.db.dialect != "postgresql":
        fails(bmac(*assess, who="surgeon"), 5, "previous entry", "clock")
        assert rows(clinic) == before
        return
    ok(bmac(*assess, who="surgeon"))
    timeline = json.loads(ok(bmac("case", "timeline", case.strip(), "--json")).stdout)
    assert timeline[1]["at"] >= timeline[0]["at"] and timeline[1]["late"] is None


@pytest.mark.parametrize("minutes", [180, -3])
def test_on_postgresql_a_workstation_clock_off_by_more_than_the_bound_is_refused(
    bmac: Bmac, clinic: Clinic, monkeypatch: pytest.MonkeyPatch, minutes: int
) -> None:
    if clinic.db.dialect != "postgresql":
        pytest.skip("SQLite has no server clock: entries keep their order instead (test above)")
    case = ok(bmac("case", "open", "--patient", "P-1", "--knee", "left", who="nurse")).stdout
    ok(bmac(*step_args("assess", int(case.strip())), who="surgeon"))
    before = rows(clinic)
    from bmac_workflow.cli.app import App

    monkeypatch.setattr(App, "now", lambda self: utcnow() + timedelta(minutes=minutes))
    side = "ahead of" if minutes > 0 else "behind"
    fails(bmac(*step_args("collect", int(case.strip())), who="nurse"), 5, f"{abs(minutes)}.0 min",
          side, "server")  # fmt: skip
    assert rows(clinic) == before


def _refusal_case(clinic: Clinic) -> int:
    from tests.conftest import advance_to
    from tests.walk import step_values

    case_id = clinic.open()
    advance_to(clinic, case_id, "injection")
    values = {**step_values("inject", case_id), "knee": "right"}
    for _ in range(2):
        with pytest.raises(Exception, match="not the case's knee"):
            clinic.fire(case_id, "inject", values, "surgeon", verifier="nurse2")
    assert clinic.count("refusals") == 2
    with clinic.engine.begin() as conn:
        unprotect(Operations(MigrationContext.configure(conn)), "refusals")
    return case_id


def test_a_refusal_deleted_from_the_log_is_caught_by_verify(bmac: Bmac, clinic: Clinic) -> None:
    case_id = _refusal_case(clinic)
    with clinic.engine.begin() as conn:
        conn.execute(text("DELETE FROM refusals WHERE case_id = :c AND seq = 1"), {"c": case_id})
    result = bmac("audit", "verify", "--full")
    assert result.exit_code == 8, result.stdout
    assert "refusal 2: refusal 1 is missing" in result.stdout


def test_a_refusal_forged_or_rewritten_is_caught_by_verify(bmac: Bmac, clinic: Clinic) -> None:
    case_id = _refusal_case(clinic)
    with clinic.engine.connect() as conn:
        body = conn.execute(
            text("SELECT body FROM refusals WHERE case_id = :c AND seq = 2"), {"c": case_id}
        ).scalar_one()
    forged = json.loads(body)
    forged["rule"] = "nothing refused"
    from bmac_workflow.record import canonical, digest

    new_body = canonical(forged)  # its hash made right: only the signature can tell
    with clinic.engine.begin() as conn:
        conn.execute(
            text("UPDATE refusals SET body = :b, hash = :h WHERE case_id = :c AND seq = 2"),
            {"b": new_body, "h": digest(new_body), "c": case_id},
        )
    result = bmac("audit", "verify", "--full")
    assert result.exit_code == 8, result.stdout
    assert "refusal 2: the signature (surgeon) does not verify" in result.stdout
