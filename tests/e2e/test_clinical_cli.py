"""The clinical rules as a person meets them at the command line (docs/clinical-rules.md)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from bmac_workflow import protocol as protocol_module
from bmac_workflow.timeutil import iso, utcnow
from tests.conftest import Bmac, Clinic, late_reason_for
from tests.walk import happy_steps, step_args


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.stderr
    return result


def fails(result: Result, code: int, *words: str) -> str:
    """The command failed with `code` and one `error:` line holding `words`."""
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def at(value: datetime) -> tuple[str, ...]:
    """`--at` with the time, and `--late-reason` when the time is late enough to need one."""
    reason = late_reason_for(value)
    return ("--at", iso(value)) + (("--late-reason", reason) if reason else ())


def open_case(bmac: Bmac, patient: str = "P-0042", knee: str = "left", *extra: str) -> str:
    result = ok(bmac("case", "open", "--patient", patient, "--knee", knee, *extra, who="nurse"))
    return result.stdout.strip()


def status(bmac: Bmac, case: str) -> dict[str, Any]:
    return dict(json.loads(ok(bmac("case", "status", case, "--json")).stdout))


def timeline(bmac: Bmac, case: str) -> list[dict[str, Any]]:
    return list(json.loads(ok(bmac("case", "timeline", case, "--json")).stdout))


def step(trigger: str, case: str, **changes: Any) -> list[str]:
    """The arguments that log `trigger` on `case` with its happy values and `changes`."""
    return step_args(trigger, int(case), **changes)


def processing(case: str, specimen: str | None = None) -> list[tuple[list[str], str]]:
    """Every step from the assessment to the concentrate, with who logs it (the collection
    labels the specimen `specimen`, else the case's own label)."""
    label = {"specimen_id": specimen} if specimen is not None else {}
    return [
        (step(trigger, case, **(label if trigger == "collect" else {})), who)
        for trigger, who, _ in happy_steps(int(case))
        if trigger != "inject"
    ]


def injection(case: str, **changes: Any) -> list[str]:
    return step("inject", case, **changes)


def ready_to_inject(
    bmac: Bmac, harvest: datetime, specimen: str | None = None, knee: str = "left"
) -> str:
    """A case whose harvest was at `harvest` (clinical time) and whose concentrate is ready."""
    case = open_case(bmac, "P-0042", knee, *at(harvest - timedelta(minutes=30)))
    for n, (args, who) in enumerate(processing(case, specimen)):
        when = harvest + timedelta(minutes=5 * (n - 1))
        ok(bmac(*args, *at(when), who=who))
    return case


# -- assessment ------------------------------------------------------------------------------


def test_kl_4_is_ineligible_and_referred_for_arthroplasty_in_message_and_record(
    bmac: Bmac,
) -> None:
    case = open_case(bmac)
    result = ok(bmac(*step("assess", case, kl_grade=4, baseline_vas=8), who="surgeon"))
    assert "imaging_assessment -> ineligible" in result.stdout
    assert "refer for arthroplasty" in result.stdout
    seen = status(bmac, case)
    assert seen["state"] == "ineligible"
    assert "refer for arthroplasty" in seen["assessment"]
    assert seen["insurance_eligible"] is False
    assert "refer for arthroplasty" in timeline(bmac, case)[-1]["data"]["reason"]


@pytest.mark.parametrize(
    ("grades", "words"),
    [
        ({"kl_grade": 1}, "KL 1 is outside the candidate grades 2-3"),
        ({"kl_grade": 0}, "KL 0 is outside the candidate grades 2-3"),
        ({"icrs_grade": 2}, "ICRS 2 is outside the candidate grades 3-4"),
        ({"leg_deformity": True}, "deformity of the leg bones"),
    ],
)
def test_a_knee_that_is_not_a_candidate_is_ineligible_with_the_reason(
    bmac: Bmac, grades: dict[str, Any], words: str
) -> None:
    case = open_case(bmac)
    result = ok(bmac(*step("assess", case, **grades, baseline_vas=5), who="surgeon"))
    assert words in result.stdout
    seen = status(bmac, case)
    assert seen["state"] == "ineligible" and words in seen["assessment"]
    text = ok(bmac("case", "status", case)).stdout
    assert words in text


def test_status_shows_the_insurance_flag_and_its_basis(bmac: Bmac) -> None:
    case = open_case(bmac)
    result = ok(bmac(*step("assess", case), who="surgeon"))
    assert "insurance: yes (KL 3 on X-ray; ICRS 4 on MRI)" in result.stdout
    seen = status(bmac, case)
    assert seen["insurance_eligible"] is True
    assert seen["insurance_basis"] == "KL 3 on X-ray; ICRS 4 on MRI"
    assert seen["baseline_vas"] == 7
    text = ok(bmac("case", "status", case)).stdout
    assert "insurance:   yes (KL 3 on X-ray; ICRS 4 on MRI)" in text


def test_a_candidate_graded_on_mri_alone_is_treated_but_not_insurance_eligible(
    bmac: Bmac,
) -> None:
    case = open_case(bmac)
    mri_alone = step("assess", case, kl_grade=2, icrs_grade=3, imaging=["mri"], baseline_vas=6)
    ok(bmac(*mri_alone, who="surgeon"))
    seen = status(bmac, case)
    assert seen["state"] == "marrow_collection"
    assert seen["insurance_eligible"] is False
    assert "KL must be graded on X-ray" in seen["insurance_basis"]


def test_a_surgeons_override_treats_a_non_candidate_marked_and_never_insured(bmac: Bmac) -> None:
    case = open_case(bmac)
    reason = "declines arthroplasty"
    ok(
        bmac(
            *step("assess", case, kl_grade=4, baseline_vas=8, override_reason=reason), who="surgeon"
        )
    )
    seen = status(bmac, case)
    assert seen["state"] == "marrow_collection"
    assert seen["override_reason"] == "declines arthroplasty"
    assert seen["insurance_eligible"] is False
    row = timeline(bmac, case)[-1]
    assert row["meaning"] == "overridden" and row["operator"] == "surgeon"
    assert row["data"]["overridden"] is True
    assert "override:    declines arthroplasty" in ok(bmac("case", "status", case)).stdout


# -- chain of identity -------------------------------------------------------------------------


def test_a_specimen_id_that_does_not_match_the_collection_is_refused(bmac: Bmac) -> None:
    case = ready_to_inject(bmac, utcnow() - timedelta(minutes=40))
    before = timeline(bmac, case)
    fails(bmac(*injection(case, specimen_id="SP-OTHER"), who="surgeon"), 5, "does not match")
    after = timeline(bmac, case)
    assert [r for r in after if r["kind"] == "entry"] == before
    assert [r["rule"] for r in after if r["kind"] == "refusal"] == ["specimen identity"]
    assert status(bmac, case)["state"] == "injection"


def test_a_specimen_id_reused_on_a_second_case_is_refused(bmac: Bmac) -> None:
    ready_to_inject(bmac, utcnow() - timedelta(minutes=40), specimen="SP-77")
    second = open_case(bmac, "P-0043")
    ok(bmac(*step("assess", second), who="surgeon"))
    fails(
        bmac(*step("collect", second, specimen_id="SP-77"), who="nurse"), 5, "SP-77", "already used"
    )
    assert status(bmac, second)["state"] == "marrow_collection"
    assert len(timeline(bmac, second)) == 2


def test_an_injection_into_the_other_knee_is_refused(bmac: Bmac) -> None:
    case = ready_to_inject(bmac, utcnow() - timedelta(minutes=40), knee="left")
    fails(bmac(*injection(case, knee="right"), who="surgeon"), 5, "not the case's knee")
    assert status(bmac, case)["state"] == "injection"


# -- time window -------------------------------------------------------------------------------


def test_an_injection_121_minutes_after_the_harvest_is_refused_and_writes_nothing(
    bmac: Bmac,
) -> None:
    harvest = utcnow() - timedelta(hours=4)
    case = ready_to_inject(bmac, harvest)
    before = timeline(bmac, case)
    late = at(harvest + timedelta(minutes=121))
    fails(bmac(*injection(case), *late, who="surgeon"), 6, "window", "--override-reason")
    after = timeline(bmac, case)
    assert [r for r in after if r["kind"] == "entry"] == before
    assert [r["rule"] for r in after if r["kind"] == "refusal"] == ["harvest-to-injection window"]
    assert status(bmac, case)["state"] == "injection"


def test_a_surgeons_override_past_the_window_shows_in_the_timeline_with_who_gave_it(
    bmac: Bmac,
) -> None:
    harvest = utcnow() - timedelta(hours=4)
    case = ready_to_inject(bmac, harvest)
    late = at(harvest + timedelta(minutes=121))
    reason = "theatre delayed by an emergency"
    ok(bmac(*injection(case, override_reason=reason), *late, who="surgeon"))
    row = timeline(bmac, case)[-1]
    assert row["action"] == "inject" and row["to_state"] == "follow_up"
    assert (row["operator"], row["role"], row["meaning"]) == ("surgeon", "surgeon", "overridden")
    assert row["data"]["override_reason"] == reason
    assert row["data"]["minutes_since_harvest"] == 121
    assert row["data"]["overridden"] is True
    assert row["verifier"]["operator"] == "nurse2"
    text = ok(bmac("case", "timeline", case)).stdout
    assert "overridden" in text and reason in text


def test_status_shows_the_minutes_left_to_inject_in_text_and_json(bmac: Bmac) -> None:
    case = ready_to_inject(bmac, utcnow() - timedelta(minutes=50))
    left = status(bmac, case)["window_minutes_left"]
    assert 69 <= left <= 70
    assert "min left to inject" in ok(bmac("case", "status", case)).stdout
    late = ready_to_inject(bmac, utcnow() - timedelta(minutes=150))
    assert status(bmac, late)["window_minutes_left"] <= -30
    assert "window:      passed" in ok(bmac("case", "status", late)).stdout


# -- clinical times ----------------------------------------------------------------------------


def test_every_writing_command_takes_at_and_refuses_the_future_and_the_out_of_order(
    bmac: Bmac,
) -> None:
    start = utcnow() - timedelta(days=40)
    future = at(utcnow() + timedelta(hours=1))
    case = open_case(bmac, "P-0042", "left", *at(start))
    commands = [
        *processing(case),
        (injection(case), "surgeon"),
        (step("record_follow_up", case), "nurse"),
        ([*step("close", case), "--reason", "moved abroad"], "surgeon"),
    ]
    previous = start
    for n, (args, who) in enumerate(commands, start=1):
        fails(bmac(*args, *future, who=who), 5, "in the future")
        fails(bmac(*args, *at(previous - timedelta(minutes=1)), who=who), 5, "previous entry")
        when = start + timedelta(minutes=10 * n) if n < 8 else start + timedelta(days=8 + n)
        if n == len(commands):
            # Every entry so far was logged late: each opened a deviation, reviewed first.
            assert bmac.review_deviations() == n
            when = utcnow()
        ok(bmac(*args, *at(when), who=who))
        row = timeline(bmac, case)[-1]
        assert datetime.fromisoformat(row["at"]) == when
        assert datetime.fromisoformat(row["recorded_at"]) > when
        previous = when
    cancelled = open_case(bmac, "P-0043", "left", *at(start))
    fails(bmac("case", "cancel", cancelled, "--reason", "x", *future, who="surgeon"), 5, "future")
    ok(
        bmac(
            "case", "cancel", cancelled, "--reason", "consent withdrawn", *at(start), who="surgeon"
        )
    )
    fails(bmac("case", "open", "--patient", "P-1", "--knee", "left", *future, who="nurse"), 5)


# -- follow-up and closing ---------------------------------------------------------------------


def test_a_visit_recorded_twice_is_refused_unless_adhoc(bmac: Bmac) -> None:
    harvest = utcnow() - timedelta(days=10)
    case = ready_to_inject(bmac, harvest)
    ok(bmac(*injection(case), *at(harvest + timedelta(minutes=60)), who="surgeon"))

    def record(**changes: Any) -> list[str]:
        return step("record_follow_up", case, **{"vas": 3, **changes})

    events = ["effusion", "stiffness"]
    ok(bmac(*record(visit="1w", koos=60, womac=20, adverse_events=events), who="nurse"))
    fails(bmac(*record(visit="1w"), who="nurse"), 4, "already recorded", "adhoc")
    ok(bmac(*record(visit="adhoc"), who="nurse"))
    ok(bmac(*record(visit="adhoc"), who="nurse"))
    first = timeline(bmac, case)[-3]["data"]
    assert first["adverse_events"] == ["effusion", "stiffness"]
    assert (first["koos"], first["womac"], first["arthroplasty"]) == (60, 20, False)
    fails(bmac(*record(visit="1m", koos=101), who="nurse"), 5, "--koos")
    fails(bmac(*record(visit="1m", womac=97), who="nurse"), 5, "--womac")
    fails(bmac(*record(visit="1m", vas=11), who="nurse"), 5, "--vas")


def test_a_case_closes_after_the_schedule_an_arthroplasty_or_with_a_reason(bmac: Bmac) -> None:
    harvest = utcnow() - timedelta(days=60)
    case = ready_to_inject(bmac, harvest)
    ok(bmac(*injection(case), *at(harvest + timedelta(minutes=60)), who="surgeon"))
    fails(bmac(*step("close", case), who="surgeon"), 4, "open deviations", "late entry")
    assert bmac.review_deviations() > 0  # the back-dated steps were late entries
    fails(bmac(*step("close", case), who="surgeon"), 4, "--reason")
    ok(bmac(*step("record_follow_up", case, visit="1m", vas=7, arthroplasty=True), who="nurse"))
    assert status(bmac, case)["next_command"] == f"bmac case close {case}"
    ok(bmac(*step("close", case), who="surgeon"))
    assert status(bmac, case)["state"] == "closed"


# -- exit codes and their order ----------------------------------------------------------------


def test_checks_run_in_the_spec_order_and_the_first_failure_decides_the_code(
    bmac: Bmac,
) -> None:
    waiting = open_case(bmac)  # imaging_assessment
    late = ready_to_inject(bmac, utcnow() - timedelta(hours=5))  # window passed
    filtering = step("filter", waiting, filtered_ml=999)
    # usage (2) before sign-in: a missing option with a wrong PIN on a missing case
    fails(bmac(*step("filter", "999", filtered_ml=None), who="nurse", pin="0000"), 2)
    # sign-in (6) before the case exists: a wrong PIN on a missing case
    fails(bmac(*step("filter", "999", filtered_ml=999), who="nurse", pin="0000"), 6)
    # the case exists (3) before the role: an auditor on a missing case
    fails(bmac(*step("assess", "999", kl_grade=9), who="auditor"), 3, "no case 999")
    # role (6) before the state: a nurse assessing a case past its assessment
    fails(bmac(*step("assess", late, kl_grade=9), who="nurse"), 6, "surgeon")
    # state (4) before the data: filtering before the assessment, with a bad volume
    fails(bmac(*filtering, who="nurse"), 4, "not allowed in state imaging_assessment")
    # data (5) before the guards: too much injected, past the window, wrong specimen
    too_much = injection(late, specimen_id="SP-X", injected_ml=7)
    fails(bmac(*too_much, who="surgeon"), 5, "--injected-ml")
    # the guards: identity (5), then the verifier (6), then the window (6)
    fails(bmac(*injection(late, specimen_id="SP-X"), who="surgeon"), 5, "does not match")
    same = injection(late, verifier_id="surgeon")
    fails(bmac(*same, who="surgeon"), 6, "verifier")
    fails(bmac(*injection(late), who="surgeon"), 6, "window")
    assert len(timeline(bmac, waiting)) == 1
    assert status(bmac, late)["state"] == "injection"


@pytest.mark.parametrize("ref", ["900101-1234567", "P-900101-2345678", "9001011234567"])
def test_a_patient_reference_shaped_like_a_registration_number_is_refused(
    bmac: Bmac, clinic: Clinic, ref: str
) -> None:
    fails(
        bmac("case", "open", "--patient", ref, "--knee", "left", who="nurse"),
        5,
        "resident registration number",
    )
    assert clinic.count("cases") == 0 and clinic.count("entries") == 0


def test_a_reason_holding_a_registration_number_is_refused(bmac: Bmac) -> None:
    case = open_case(bmac)
    fails(
        bmac("case", "cancel", case, "--reason", "duplicate of 850505-2345678", who="surgeon"),
        5,
        "registration number",
    )
    assert status(bmac, case)["state"] == "imaging_assessment"


# -- the protocol file -------------------------------------------------------------------------


SHIPPED = protocol_module.default_text()


def protocol_file(tmp_path: Path, version: str, window: int) -> Path:
    text = SHIPPED.replace('version = "bmac-knee-2026.4"', f'version = "{version}"')
    text = text.replace("window_minutes = 120", f"window_minutes = {window}")
    assert f'"{version}"' in text and f"= {window}\n" in text
    path = tmp_path / f"{version}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_malformed_protocol_file_is_refused_naming_the_key(bmac: Bmac, tmp_path: Path) -> None:
    path = protocol_file(tmp_path, "broken", 90)
    path.write_text(path.read_text().replace("window_minutes = 90", "window_minutes = -1"))
    env = {"BMAC_PROTOCOL": str(path)}
    args = ("case", "open", "--patient", "P-1", "--knee", "left")
    fails(bmac(*args, who="nurse", env=env), 5, "`injection.window_minutes`")
    fails(bmac("--protocol", str(path), *args, who="nurse"), 5, "`injection.window_minutes`")


def test_cases_keep_the_window_of_their_own_protocol_after_another_is_activated(
    bmac: Bmac, clinic: Clinic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    harvest = utcnow() - timedelta(hours=5)
    by_version: dict[str, str] = {}
    for version, window in (("site-A", 90), ("site-B", 150)):
        # The admin activates each version in turn; new cases open under the active one.
        ok(bmac("protocol", "activate", str(protocol_file(tmp_path, version, window)), who="admin"))
        by_version[version] = ready_to_inject(bmac, harvest)
    # The file the package ships changes (a new bmac): no case, old or new, follows it.
    replaced = SHIPPED.replace("window_minutes = 120", "window_minutes = 30")
    monkeypatch.setattr(protocol_module, "default_text", lambda: replaced)
    a, b = by_version["site-A"], by_version["site-B"]
    assert status(bmac, a)["protocol_version"] == "site-A"
    assert status(bmac, a)["window_minutes"] == 90
    assert status(bmac, b)["window_minutes"] == 150
    after_100 = at(harvest + timedelta(minutes=100))
    fails(bmac(*injection(a), *after_100, who="surgeon"), 6, "90 min")
    ok(bmac(*injection(b), *after_100, who="surgeon"))
    assert status(bmac, open_case(bmac, "P-0043"))["window_minutes"] == 150
    assert clinic.count("protocols") == 3  # the shipped one, A and B
    opened = timeline(bmac, a)[0]["data"]
    assert opened["protocol_version"] == "site-A" and len(opened["protocol_sha256"]) == 64


def test_a_protocol_file_no_admin_activated_is_refused_and_works_once_activated(
    bmac: Bmac, clinic: Clinic, tmp_path: Path
) -> None:
    mine = protocol_file(tmp_path, "nurse-own", 1440)  # the most a file may give
    args = ("case", "open", "--patient", "P-1", "--knee", "left")
    before = clinic.counts()
    refused = bmac("--protocol", str(mine), *args, who="nurse")
    fails(refused, 6, "'nurse-own'", "is not activated", "bmac protocol activate FILE")
    fails(bmac(*args, who="nurse", env={"BMAC_PROTOCOL": str(mine)}), 6, "is not activated")
    fails(bmac("--protocol", "nurse-own", *args, who="nurse"), 6, "was never activated")
    # Nor may she activate it herself.
    fails(bmac("protocol", "activate", str(mine), who="nurse"), 6, "nurse")
    assert clinic.counts() == before
    ok(bmac("protocol", "activate", str(mine), who="admin"))
    case = ok(bmac("--protocol", str(mine), *args, who="nurse")).stdout.strip()
    assert status(bmac, case)["protocol_version"] == "nurse-own"
    # Once activated, its version names it; the shipped one stays usable by name too.
    shipped = protocol_module.load(None).version
    again = ok(bmac("--protocol", shipped, *args, who="nurse")).stdout.strip()
    assert status(bmac, again)["protocol_version"] == shipped


def test_the_verifiers_pin_is_only_tried_once_the_injection_could_happen(
    bmac: Bmac, clinic: Clinic
) -> None:
    waiting = open_case(bmac)
    ready = ready_to_inject(bmac, utcnow() - timedelta(minutes=30))
    wrong = {"BMAC_VERIFIER_PIN": "0000"}
    fails(bmac(*injection("999"), who="surgeon", env=wrong), 3, "no case 999")
    fails(bmac(*injection(waiting), who="surgeon", env=wrong), 4, "imaging_assessment")
    fails(bmac(*injection(ready, injected_ml=7), who="surgeon", env=wrong), 5, "--injected-ml")
    fails(bmac(*injection(ready, specimen_id="SP-X"), who="surgeon", env=wrong), 5, "match")
    assert clinic.ops["nurse2"].failed_pins == 0
    with clinic.uow(write=False) as uow:
        nurse2 = uow.repo.operator("nurse2")
    assert nurse2 is not None and nurse2.failed_pins == 0
    fails(bmac(*injection(ready), who="surgeon", env=wrong), 6, "wrong PIN", "nurse2")
    assert status(bmac, ready)["state"] == "injection"


def test_a_changed_protocol_under_a_version_already_in_use_is_refused(
    bmac: Bmac, clinic: Clinic, tmp_path: Path
) -> None:
    first = protocol_file(tmp_path, "site-A", 90)
    ok(bmac("protocol", "activate", str(first), who="admin"))
    before = clinic.counts()
    changed = tmp_path / "site-A-edited.toml"
    changed.write_text(first.read_text().replace("window_minutes = 90", "window_minutes = 150"))
    result = bmac("protocol", "activate", str(changed), who="admin")
    fails(result, 5, "protocol version 'site-A' is already in use with other content")
    assert "give the changed protocol file a new version" in result.stderr
    assert clinic.counts() == before
    # The same file again is the same protocol: nothing to do.
    again = ok(bmac("protocol", "activate", str(first), who="admin"))
    assert "is already the active protocol" in again.stdout
    assert clinic.counts() == before
