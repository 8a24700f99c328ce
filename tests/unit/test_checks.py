"""The audit's checks without a database: what `audit verify` says about a log, a case row and
its worklist when one of them was altered, and the checkpoint digest."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bmac_workflow.checks import Problem, check_case_row, check_chain, heads_digest
from bmac_workflow.record import Entry, canonical, digest
from bmac_workflow.rules import DueRow, due_rows
from tests.unit.logs import PROTOCOL, happy_log, rows, snapshot

LOG = happy_log()
ROWS = rows(LOG)
HEAD = ROWS[-1][2]


@dataclass(frozen=True)
class Row:
    """A stored case row, as the audit reads it."""

    state: str
    version: int
    head_hash: str
    facts: str
    patient_ref: str
    knee: str
    specimen_id: str | None


def row_of(log: list[Entry], **changes: Any) -> Row:
    case = snapshot(log)
    facts = json.dumps(case.facts(), sort_keys=True)
    row = Row(
        case.state, case.version, case.head_hash, facts,
        case.patient_ref, case.knee, case.specimen_id,
    )  # fmt: skip
    return replace(row, **changes)


def whats(problems: list[Problem]) -> list[tuple[int | None, str]]:
    return [(p.seq, p.what) for p in problems]


def test_an_untouched_log_has_no_problems_and_its_head_is_the_last_hash() -> None:
    problems, entries, head = check_chain(1, ROWS)
    assert problems == [] and entries == LOG and head == HEAD


def test_a_deleted_entry_is_named_as_missing() -> None:
    problems, _, _ = check_chain(1, ROWS[:2] + ROWS[3:])
    assert whats(problems) == [
        (3, "entry 3 is missing"),
        (4, "chain broken: previous hash does not link"),
    ]


def test_an_entry_stored_twice_is_a_repeated_seq() -> None:
    problems, _, _ = check_chain(1, [*ROWS[:3], ROWS[2], *ROWS[3:]])
    assert (3, "seq repeated") in whats(problems)


def test_an_edited_body_under_its_old_hash_is_named_as_altered() -> None:
    seq, body, stored = ROWS[3]
    edited = body.replace('"filtered_ml":55.0', '"filtered_ml":50.0')
    assert edited != body
    problems, _, _ = check_chain(1, [*ROWS[:3], (seq, edited, stored), *ROWS[4:]])
    assert whats(problems) == [(4, "hash does not match the entry's content (altered)")]


def test_an_edited_body_hashed_again_breaks_the_link_of_the_next_entry() -> None:
    seq, body, _ = ROWS[3]
    edited = body.replace('"filtered_ml":55.0', '"filtered_ml":50.0')
    problems, _, _ = check_chain(1, [*ROWS[:3], (seq, edited, digest(edited)), *ROWS[4:]])
    assert whats(problems) == [(5, "chain broken: previous hash does not link")]


@pytest.mark.parametrize("body", ["{not json", "[1, 2]", "{}", "null", '"text"'])
def test_a_body_that_is_not_an_entry_is_named_unreadable(body: str) -> None:
    problems, entries, _ = check_chain(1, [*ROWS[:3], (4, body, digest(body)), *ROWS[4:]])
    assert (4, "entry is not readable JSON of an entry") in whats(problems)
    assert [e.seq for e in entries] == [1, 2, 3, 5, 6, 7, 8]


def test_a_body_nested_too_deep_to_read_is_named_unreadable_not_a_crash() -> None:
    body = "[" * 100_000 + "]" * 100_000
    problems, _, _ = check_chain(1, [*ROWS[:3], (4, body, digest(body)), *ROWS[4:]])
    assert (4, "entry is not readable JSON of an entry") in whats(problems)


def test_an_entry_moved_to_another_case_says_where_it_came_from() -> None:
    other = rows(happy_log(case_id=2, until="marrow_collection"))
    problems, _, _ = check_chain(1, [*ROWS[:1], other[1], *ROWS[2:]])
    assert (2, "entry says it is case 2 seq 2") in whats(problems)


def test_an_entry_whose_body_names_another_seq_is_named() -> None:
    entry = replace(LOG[3], seq=9)
    problems, _, _ = check_chain(1, [*ROWS[:3], (4, entry.body(), ROWS[3][2]), *ROWS[4:]])
    assert (4, "entry says it is case 1 seq 9") in whats(problems)


@given(st.text())
def test_any_text_in_place_of_an_entry_is_reported_never_raised(body: str) -> None:
    problems, _, _ = check_chain(1, [*ROWS[:3], (4, body, ROWS[3][2]), *ROWS[4:]])
    assert problems


def test_a_case_row_that_matches_its_log_has_no_problems() -> None:
    worklist = set(due_rows(snapshot(LOG), PROTOCOL))
    assert check_case_row(row_of(LOG), 1, LOG, HEAD, (PROTOCOL, worklist)) == []


@pytest.mark.parametrize(
    ("column", "value", "what"),
    [
        ("state", "closed", "case row state 'closed' differs from the log's 'follow_up'"),
        ("version", 7, "case row version 7 differs from the log's 8"),
        ("head_hash", "0" * 64, f"case row head_hash '{'0' * 64}' differs from the log's '{HEAD}'"),
        ("patient_ref", "P-9", "case row patient_ref 'P-9' differs from the log's 'P-0001'"),
        ("knee", "right", "case row knee 'right' differs from the log's 'left'"),
        ("specimen_id", None, "case row specimen_id None differs from the log's 'SP-1'"),
    ],
)
def test_each_column_of_the_case_row_that_differs_from_the_log_is_named(
    column: str, value: Any, what: str
) -> None:
    problems = check_case_row(row_of(LOG, **{column: value}), 1, LOG, HEAD)
    assert whats(problems) == [(8, what)]


@pytest.mark.parametrize(
    "facts",
    [
        lambda f: {**f, "volumes_ml": {**f["volumes_ml"], "injected_ml": 50}},
        lambda f: {**f, "specimen_id": "SP-2"},
        lambda f: {**f, "visits": ["1w"]},
        lambda f: {},
        lambda f: [],
    ],
)
def test_case_row_data_that_a_replay_does_not_give_is_named(facts: Any) -> None:
    stored = facts(json.loads(row_of(LOG).facts))
    problems = check_case_row(row_of(LOG, facts=json.dumps(stored)), 1, LOG, HEAD)
    assert whats(problems) == [(8, "case row data differs from a replay of its log")]


def test_case_row_data_that_is_not_json_is_named() -> None:
    problems = check_case_row(row_of(LOG, facts="{oops"), 1, LOG, HEAD)
    assert whats(problems) == [(8, "case row data differs from a replay of its log")]


def test_a_row_written_before_a_fact_existed_still_matches_its_log() -> None:
    stored = json.loads(row_of(LOG).facts)
    del stored["end_reason"], stored["arthroplasty"]
    assert check_case_row(row_of(LOG, facts=json.dumps(stored)), 1, LOG, HEAD) == []


def test_a_missing_case_row_and_a_row_with_no_log_are_named() -> None:
    assert whats(check_case_row(None, 1, LOG, HEAD)) == [
        (None, "entries exist for a case row that is missing")
    ]
    assert whats(check_case_row(row_of(LOG), 1, [], "")) == [
        (None, "case row has no entries in the log")
    ]


def test_a_log_that_does_not_replay_is_reported_not_raised() -> None:
    broken = [*LOG[:2], replace(LOG[2], data={"side": "left"}), *LOG[3:]]
    (problem,) = check_case_row(row_of(LOG), 1, broken, HEAD)
    assert problem.seq == 1 and problem.what.startswith("the log does not replay (KeyError")


def expected_worklist() -> set[DueRow]:
    return set(due_rows(snapshot(LOG), PROTOCOL))


def test_a_visit_missing_from_the_worklist_is_named_with_its_due_time() -> None:
    stored = {r for r in expected_worklist() if r.visit != "1w"}
    (problem,) = check_case_row(row_of(LOG), 1, LOG, HEAD, (PROTOCOL, stored))
    assert problem.what == (
        "follow-up worklist differs from the log: missing 1w due 2026-12-02T10:10:00.000000Z"
    )


def test_an_extra_visit_on_the_worklist_is_named_as_not_in_the_log() -> None:
    extra = DueRow(1, "adhoc", "2027-01-01T00:00:00.000000Z", "P-0001", "left")
    (problem,) = check_case_row(
        row_of(LOG), 1, LOG, HEAD, (PROTOCOL, expected_worklist() | {extra})
    )
    assert problem.what == (
        "follow-up worklist differs from the log: not in the log adhoc due "
        "2027-01-01T00:00:00.000000Z"
    )


def test_a_worklist_row_for_the_wrong_patient_names_whose_it_says_it_is() -> None:
    stored = {
        r._replace(patient_ref="P-9999") if r.visit == "1m" else r for r in expected_worklist()
    }
    (problem,) = check_case_row(row_of(LOG), 1, LOG, HEAD, (PROTOCOL, stored))
    assert "missing 1m due 2026-12-25T10:10:00.000000Z" in problem.what
    assert "not in the log 1m due 2026-12-25T10:10:00.000000Z for P-9999 left" in problem.what


HEADS = st.dictionaries(
    st.integers(1, 10_000).map(str),
    st.tuples(st.integers(1, 500), st.integers(0, 2**256 - 1).map(lambda n: f"{n:064x}")),
    min_size=1,
    max_size=8,
)


@settings(max_examples=50)
@given(HEADS, st.randoms())
def test_the_checkpoint_digest_does_not_depend_on_the_order_cases_are_read_in(
    heads: dict[str, tuple[int, str]], random: Any
) -> None:
    order = list(heads)
    random.shuffle(order)
    assert heads_digest({c: heads[c] for c in order}) == heads_digest(heads)


@settings(max_examples=50)
@given(HEADS, st.data())
def test_the_checkpoint_digest_changes_with_any_case_s_count_or_head(
    heads: dict[str, tuple[int, str]], data: st.DataObject
) -> None:
    case = data.draw(st.sampled_from(sorted(heads)))
    count, head = heads[case]
    moved = {**heads, case: (count + 1, head)}
    rehashed = {**heads, case: (count, hashlib.sha256(head.encode()).hexdigest())}
    assert heads_digest(moved) != heads_digest(heads)
    assert heads_digest(rehashed) != heads_digest(heads)


def test_an_auditor_can_recompute_the_checkpoint_digest_by_hand() -> None:
    heads = {"10": (3, "b" * 64), "9": (8, "a" * 64)}
    listing = canonical([[9, 8, "a" * 64], [10, 3, "b" * 64]])
    assert heads_digest(heads) == hashlib.sha256(listing.encode()).hexdigest()
