"""The clinical rules (docs/clinical-rules.md) as pure functions: candidacy, insurance, schedule."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest

from bmac_workflow import rules
from bmac_workflow.errors import InvalidData
from bmac_workflow.protocol import load

PROTOCOL = load(None)
MODALITIES = ("xray", "mri", "arthroscopy")
IMAGING_CHOICES = [
    list(c) for n in (1, 2, 3) for c in itertools.combinations(MODALITIES, n)
]  # every non-empty set of modalities
NAMES = {"xray": "X-ray", "mri": "MRI", "arthroscopy": "arthroscopy"}


def spec_says(kl: int, icrs: int, deformity: bool, imaging: list[str]) -> tuple[bool, bool]:
    """The clinical rules (docs/clinical-rules.md) written out again, independently of the
    code: (candidate, insurance)."""
    candidate = kl in (2, 3) and icrs in (3, 4) and not deformity
    insured = candidate and "xray" in imaging and ("mri" in imaging or "arthroscopy" in imaging)
    return candidate, insured


@pytest.mark.parametrize("imaging", IMAGING_CHOICES, ids=",".join)
def test_every_grade_combination_gets_the_decision_the_spec_gives(imaging: list[str]) -> None:
    for kl, icrs, deformity in itertools.product(range(5), range(5), (False, True)):
        outcome = rules.assess(kl, icrs, imaging, deformity, PROTOCOL)
        candidate, insured = spec_says(kl, icrs, deformity, imaging)
        case = (kl, icrs, deformity, imaging)
        assert outcome.candidate is candidate, case
        assert outcome.insurance_eligible is insured, case
        if candidate:
            assert outcome.reason == f"candidate: KL {kl}, ICRS {icrs}, no leg deformity"
            continue
        assert outcome.reason.startswith("not a candidate: "), case
        assert ("refer for arthroplasty" in outcome.reason) is (kl == 4), case
        if kl in (0, 1):
            assert f"KL {kl} is outside the candidate grades 2-3" in outcome.reason
        if icrs <= 2:
            assert f"ICRS {icrs} is outside the candidate grades 3-4" in outcome.reason
        assert ("deformity of the leg bones" in outcome.reason) is deformity, case
        assert outcome.insurance_basis == "not insurance-eligible: not a candidate"


@pytest.mark.parametrize(
    ("imaging", "basis"),
    [
        (["xray", "mri"], "KL 3 on X-ray; ICRS 4 on MRI"),
        (["arthroscopy", "xray"], "KL 3 on X-ray; ICRS 4 on arthroscopy"),
        (["mri", "arthroscopy", "xray"], "KL 3 on X-ray; ICRS 4 on MRI and arthroscopy"),
    ],
)
def test_the_insurance_basis_names_the_modality_each_grade_rests_on(
    imaging: list[str], basis: str
) -> None:
    outcome = rules.assess(3, 4, imaging, False, PROTOCOL)
    assert outcome.insurance_eligible
    assert outcome.insurance_basis == basis


@pytest.mark.parametrize(
    ("imaging", "missing"),
    [
        (["mri"], "KL must be graded on X-ray"),
        (["arthroscopy"], "KL must be graded on X-ray"),
        (["xray"], "ICRS must be graded on MRI or arthroscopy"),
    ],
)
def test_a_candidate_without_the_right_imaging_is_treated_but_not_insured(
    imaging: list[str], missing: str
) -> None:
    outcome = rules.assess(2, 3, imaging, False, PROTOCOL)
    assert outcome.candidate
    assert not outcome.insurance_eligible
    assert missing in outcome.insurance_basis


def test_an_override_treats_a_non_candidate_but_never_insures_it() -> None:
    record = rules.assessment_record(4, 4, ["xray", "mri"], False, "patient declines TKA", PROTOCOL)
    assert record["candidate"] is False
    assert record["overridden"] is True
    assert record["insurance_eligible"] is False
    assert "overridden" in record["insurance_basis"]
    assert "refer for arthroplasty" in record["reason"]


def test_an_override_of_a_candidate_is_an_input_error() -> None:
    with pytest.raises(InvalidData, match="only for a knee that is not a candidate"):
        rules.assessment_record(3, 4, ["xray", "mri"], False, "just in case", PROTOCOL)


@pytest.mark.parametrize(
    "ref",
    ["900101-1234567", "9001011234567", "P 900101 - 1234567", "x900101-0234567", "900101–1234567"],
)
def test_a_patient_reference_shaped_like_a_registration_number_is_refused(ref: str) -> None:
    with pytest.raises(InvalidData, match="resident registration number"):
        rules.check_patient_ref(ref)


@pytest.mark.parametrize("ref", ["P-0042", "  BM-2026-117 ", "1234567-1234567", "K12345678"])
def test_a_pseudonymous_patient_reference_is_kept_trimmed(ref: str) -> None:
    assert rules.check_patient_ref(ref) == ref.strip()


def test_an_empty_patient_reference_is_refused() -> None:
    with pytest.raises(InvalidData, match="pseudonymous"):
        rules.check_patient_ref("   ")


@pytest.mark.parametrize(
    ("text", "holds"),
    [
        ("lost to follow-up; pt 900101-1234567", True),
        ("kit lot 202311-0000001", False),  # month 23: a lot number, not a birth date
        ("EAN 8809876543210", False),  # 88-09-87: no such day
        ("EAN 8801234567890", True),  # 1988-01-23, then a sex digit: refused, separator or not
        ("moved abroad", False),
    ],
)
def test_free_text_is_refused_only_when_it_holds_a_birth_date_shaped_number(
    text: str, holds: bool
) -> None:
    assert rules.looks_like_rrn(text) is holds


def test_the_window_counts_minutes_left_from_the_harvest() -> None:
    harvest = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    assert rules.window_minutes_left(harvest, harvest + timedelta(minutes=83), PROTOCOL) == 37
    assert rules.window_minutes_left(harvest, harvest + timedelta(minutes=130), PROTOCOL) == -10


def test_pending_visits_follow_the_protocol_schedule_from_the_injection() -> None:
    injected = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    pending = rules.pending_visits(injected, {"1w", "3m"}, PROTOCOL)
    assert [v.visit for v in pending] == ["1m", "6m", "12m", "24m"]
    assert pending[0].due_at == injected + timedelta(days=30)
    assert pending[-1].due_at == injected + timedelta(days=730)


def test_days_overdue_counts_calendar_days_after_the_due_date() -> None:
    assert rules.days_overdue(date(2026, 3, 1), date(2026, 3, 1)) == 0
    assert rules.days_overdue(date(2026, 3, 1), date(2026, 2, 20)) == 0
    assert rules.days_overdue(date(2026, 3, 1), date(2026, 3, 4)) == 3


def test_follow_up_ends_with_the_final_visit_or_an_arthroplasty() -> None:
    assert not rules.follow_up_complete({"1w", "1m", "3m", "6m", "12m"}, False, PROTOCOL)
    assert rules.follow_up_complete({"24m"}, False, PROTOCOL)
    assert rules.follow_up_complete({"1w"}, True, PROTOCOL)


def test_the_worklist_rule_names_the_machines_follow_up_state() -> None:
    from bmac_workflow import states

    assert rules.FOLLOW_UP == states.FOLLOW_UP
