"""The record without a database: canonical JSON, hashes, entries and the case they add up to."""

from __future__ import annotations

import base64
import hashlib
import json
import math
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bmac_workflow.entry_signatures import content_of_body
from bmac_workflow.json_text import read_json
from bmac_workflow.record import (
    CaseSnapshot,
    Entry,
    Signature,
    canonical,
    digest,
    effective_data,
    fold,
    replay,
)
from tests.unit.logs import corrected, happy_log, snapshot, step

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=50)
@given(st.dictionaries(st.text(), JSON, max_size=5), st.randoms())
def test_the_canonical_text_does_not_depend_on_the_order_keys_were_written_in(
    value: dict[str, Any], random: Any
) -> None:
    keys = list(value)
    random.shuffle(keys)
    assert canonical({k: value[k] for k in keys}) == canonical(value)


@settings(max_examples=50)
@given(JSON)
def test_the_canonical_text_reads_back_as_the_same_value(value: Any) -> None:
    assert json.loads(canonical(value)) == value


def test_the_canonical_text_has_sorted_keys_and_no_spaces() -> None:
    assert (
        canonical({"b": [1, 2], "a": {"d": 1, "c": "x y"}}) == '{"a":{"c":"x y","d":1},"b":[1,2]}'
    )


def test_the_canonical_text_keeps_non_ascii_as_utf8_not_escapes() -> None:
    text = canonical({"name": "김간호"})
    assert text == '{"name":"김간호"}'
    assert digest(text) == hashlib.sha256('{"name":"김간호"}'.encode()).hexdigest()


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_a_number_that_is_not_finite_is_refused_from_the_record(number: float) -> None:
    with pytest.raises(ValueError):
        canonical({"aspirate_ml": number})


@given(st.text())
def test_the_digest_is_the_sha256_of_the_utf8_text(body: str) -> None:
    assert digest(body) == hashlib.sha256(body.encode("utf-8")).hexdigest()


def test_every_entry_of_a_happy_case_reads_back_from_its_body_unchanged() -> None:
    for entry in happy_log():
        assert Entry.from_body(entry.body()) == entry
        assert entry.body() == canonical(entry.plain())


ASSESSMENT = happy_log(until="marrow_collection")[-1]
SIGNATURES = st.builds(Signature, st.text(), st.text(), st.text(), st.text())


@given(
    data=st.dictionaries(st.text(), JSON_SCALARS | st.lists(JSON_SCALARS), max_size=5),
    verifier=st.none() | SIGNATURES,
    signer=SIGNATURES,
    reason=st.none() | st.text(),
    corrects=st.none() | st.integers(1, 99),
)
def test_any_entry_reads_back_from_its_body_unchanged(
    data: dict[str, Any],
    verifier: Signature | None,
    signer: Signature,
    reason: str | None,
    corrects: int | None,
) -> None:
    entry = replace(
        ASSESSMENT, data=data, verifier=verifier, signer=signer, reason=reason, corrects=corrects
    )
    assert Entry.from_body(entry.body()) == entry


def test_a_different_entry_gets_a_different_hash() -> None:
    entry = happy_log(until="filtering")[-1]
    other = replace(entry, data={**entry.data, "aspirate_ml": 61.0})
    assert digest(entry.body()) != digest(other.body())


def test_the_snapshot_of_a_happy_case_reads_back_from_the_row_it_is_stored_as() -> None:
    case = snapshot(happy_log())
    stored = json.loads(json.dumps(case.facts(), sort_keys=True))
    assert CaseSnapshot.from_facts(stored) == case


def test_a_row_written_before_a_fact_existed_reads_back_with_its_default() -> None:
    stored = snapshot(happy_log(until="marrow_collection")).facts()
    for newer in ("arthroplasty", "end_reason", "visits"):
        del stored[newer]
    case = CaseSnapshot.from_facts(stored)
    assert (case.arthroplasty, case.end_reason, case.visits) == (False, None, ())


def test_the_fold_of_a_happy_case_is_where_the_case_stands_after_the_injection() -> None:
    log = happy_log()
    case = snapshot(log)
    at = {e.action: e.at for e in log}
    assert (case.case_id, case.patient_ref, case.knee) == (1, "P-0001", "left")
    assert (case.state, case.version) == ("follow_up", 8)
    assert case.volumes_ml == {
        "aspirate_ml": 60,
        "filtered_ml": 55,
        "plasma_removed_ml": 45,
        "concentrate_ml": 6,
        "injected_ml": 5,
    }
    assert case.concentration_factor == 10.0
    assert case.specimen_id == "SP-1"
    assert (case.harvested_at, case.injected_at) == (at["collect"], at["inject"])
    assert case.opened_at == log[0].at and case.last_at == log[-1].at
    assert case.insurance_eligible is True and case.baseline_vas == 7
    assert case.assessment == "candidate: KL 3, ICRS 4, no leg deformity"
    assert case.visits == () and case.arthroplasty is False and case.end_reason is None
    assert case.head_hash == digest(log[-1].body())


def test_follow_up_visits_are_listed_once_each_and_ad_hoc_visits_not_at_all() -> None:
    log = happy_log()
    for visit in ("1w", "adhoc", "1m", "adhoc"):
        log = step(log, "record_follow_up", {"visit": visit, "vas": 3}, "nurse")
    assert snapshot(log).visits == ("1w", "1m")


def test_an_arthroplasty_stays_recorded_at_later_visits() -> None:
    log = step(
        happy_log(), "record_follow_up", {"visit": "1w", "vas": 9, "arthroplasty": True}, "nurse"
    )
    log = step(log, "record_follow_up", {"visit": "adhoc", "vas": 2}, "nurse")
    assert snapshot(log).arthroplasty is True


@pytest.mark.parametrize(
    ("until", "trigger", "end"),
    [("follow_up", "close", "closed"), ("filtering", "cancel", "cancelled")],
)
def test_a_case_that_ends_keeps_the_reason_it_ended(until: str, trigger: str, end: str) -> None:
    log = step(happy_log(until=until), trigger, {}, "surgeon", reason="patient moved away")
    case = snapshot(log)
    assert (case.state, case.end_reason) == (end, "patient moved away")


def test_a_correction_changes_the_effective_data_but_not_the_entry_it_corrects() -> None:
    log = happy_log()
    original = log[3].body()
    fixed = corrected(log, 4, {"filtered_ml": 50.0})
    assert fixed[3].body() == original
    assert effective_data(fixed)[4]["filtered_ml"] == 50.0
    assert effective_data(log)[4]["filtered_ml"] == 55.0
    case = snapshot(fixed)
    assert case.volumes_ml["filtered_ml"] == 50.0
    assert (case.version, case.state) == (9, "follow_up")


def test_two_corrections_of_one_entry_add_up_and_the_later_one_wins() -> None:
    log = corrected(happy_log(), 4, {"filtered_ml": 50.0, "filter_lot": "F-1"})
    log = corrected(log, 4, {"filtered_ml": 52.0})
    assert effective_data(log)[4] == {"filter_lot": "F-1", "filtered_ml": 52.0}


def test_a_corrected_specimen_label_is_the_case_s_specimen() -> None:
    log = corrected(happy_log(until="filtering"), 3, {"specimen_id": "SP-1B"})
    assert snapshot(log).specimen_id == "SP-1B"


def test_a_replay_is_the_fold_with_the_hash_of_the_last_entry() -> None:
    log = happy_log()
    folded = fold(log)
    assert folded is not None
    assert replace(folded, head_hash=digest(log[-1].body())) == replay(log)
    assert replay([]) is None and fold([]) is None


@given(st.integers(1, 8))
def test_each_prefix_of_the_log_replays_to_the_case_as_it_stood_then(length: int) -> None:
    log = happy_log()
    case = snapshot(log[:length])
    assert (case.version, case.state) == (length, log[length - 1].to_state)
    assert case.head_hash == digest(log[length - 1].body())


SIGNED = st.dictionaries(
    st.sampled_from(["signer", "verifier"]),
    st.binary(min_size=64, max_size=64).map(lambda b: base64.b64encode(b).decode()),
    min_size=1,
)


@settings(max_examples=80)
@given(
    note=st.text(),
    signatures=SIGNED,
    data=st.dictionaries(st.just("signatures") | st.text(), JSON, max_size=3),
)
def test_the_signed_content_cut_from_a_body_is_the_content_of_the_entry(
    note: str, signatures: dict[str, str], data: dict[str, Any]
) -> None:
    # Text that looks like the member, inside a string or as a key of the data, changes
    # nothing: the audit checks every signature against this cut.
    entry = replace(
        happy_log()[2],
        data={**data, "note": f'{note},"signatures":{{"signer":"x"}}'},
        signatures=signatures,
    )
    assert content_of_body(entry.body()) == entry.content()


def test_a_body_without_signatures_has_no_signed_content() -> None:
    assert content_of_body(happy_log()[1].body()) is None


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(2**63), 2**63 - 1)
        | st.text()
        | st.floats(allow_nan=False, allow_infinity=False),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=20,
    )
)
@settings(max_examples=300)
def test_stored_json_reads_as_json_reads_it(value: Any) -> None:
    text = canonical(value)
    assert read_json(text) == json.loads(text)


@pytest.mark.parametrize("text", ['{"a":NaN}', "1e400", '{"a":1,"a":2}', '"\\ud800"', "[-0.0]"])
def test_what_orjson_refuses_or_bends_reads_as_json_reads_it(text: str) -> None:
    found, expected = read_json(text), json.loads(text)
    assert repr(found) == repr(expected)


def test_text_that_is_no_json_is_refused_as_json_refuses_it() -> None:
    with pytest.raises(ValueError):
        read_json('{"a":')
