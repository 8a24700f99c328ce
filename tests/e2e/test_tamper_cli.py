"""With the triggers dropped, every kind of tampering makes `bmac audit verify` exit 8 naming
the case and entry; the untouched record verifies clean."""

from __future__ import annotations

import json

import pytest

from bmac_workflow.record import digest
from bmac_workflow.services.checkpoints import grouped
from tests.conftest import Bmac, Clinic
from tests.integration.test_tamper import body_of, forgeable, resave_row, rewrite, sql


@pytest.fixture
def record(clinic: Clinic) -> Clinic:
    """Two cases in follow-up, then the append-only triggers dropped, as a forger would."""
    return forgeable(clinic)


def altered(bmac: Bmac, *args: str) -> list[str]:
    """Run verify, expect exit 8, and return the problem lines."""
    result = bmac("audit", "verify", *args)
    assert result.exit_code == 8, (result.stdout, result.stderr)
    assert result.stderr.startswith("error: the record was altered")
    return result.stdout.splitlines()


def test_the_untouched_record_verifies_clean(record: Clinic, bmac: Bmac) -> None:
    result = bmac("audit", "verify")
    assert result.exit_code == 0, result.stdout
    assert "verified: 16 entries" in result.stdout


def test_one_changed_byte_of_data_is_found_at_its_entry(record: Clinic, bmac: Bmac) -> None:
    body = body_of(record, 2, 3)
    assert '"aspirate_ml":60' in body
    rewrite(record, 2, 3, body.replace('"aspirate_ml":60', '"aspirate_ml":66'), rehash=False)
    lines = altered(bmac)
    assert "case 2, seq 3, hash does not match the entry's content (altered)" in lines
    assert not any(line.startswith("case 1,") for line in lines)


def test_a_changed_operator_with_a_recomputed_hash_breaks_the_next_link(
    record: Clinic, bmac: Bmac
) -> None:
    body = body_of(record, 1, 4)
    rewrite(record, 1, 4, body.replace('"id":"nurse"', '"id":"nurse2"'), rehash=True)
    lines = altered(bmac)
    assert "case 1, seq 5, chain broken: previous hash does not link" in lines


def test_a_changed_operator_on_the_last_entry_shows_in_the_case_row(
    record: Clinic, bmac: Bmac
) -> None:
    body = body_of(record, 1, 8)
    rewrite(record, 1, 8, body.replace('"id":"surgeon"', '"id":"nurse2"'), rehash=True)
    lines = altered(bmac, "1")
    assert any(line.startswith("case 1, seq 8, case row head_hash") for line in lines)


def test_a_deleted_middle_entry_is_found(record: Clinic, bmac: Bmac) -> None:
    sql(record, "DELETE FROM entries WHERE case_id = 1 AND seq = 3")
    lines = altered(bmac)
    assert "case 1, seq 3, entry 3 is missing" in lines
    assert "case 1, seq 4, chain broken: previous hash does not link" in lines


def test_two_swapped_entries_are_found(record: Clinic, bmac: Bmac) -> None:
    sql(record, "UPDATE entries SET seq = -1 WHERE case_id = 2 AND seq = 4")
    sql(record, "UPDATE entries SET seq = 4 WHERE case_id = 2 AND seq = 5")
    sql(record, "UPDATE entries SET seq = 5 WHERE case_id = 2 AND seq = -1")
    lines = altered(bmac)
    assert "case 2, seq 4, entry says it is case 2 seq 5" in lines
    assert "case 2, seq 5, entry says it is case 2 seq 4" in lines


def test_a_changed_case_state_is_found(record: Clinic, bmac: Bmac) -> None:
    sql(record, "UPDATE cases SET state = 'closed' WHERE id = 2")
    lines = altered(bmac)
    assert any(line.startswith("case 2, seq 8, case row state 'closed' differs") for line in lines)


def test_a_visit_removed_from_the_follow_up_worklist_is_found(record: Clinic, bmac: Bmac) -> None:
    # Not the log, but what the clinic calls patients back from: a quiet deletion hides a visit.
    sql(record, "DELETE FROM due_visits WHERE case_id = 2 AND visit = '3m'")
    lines = altered(bmac)
    assert len(lines) == 1
    assert lines[0].startswith("case 2, seq 8, follow-up worklist differs from the log: missing 3m")
    assert bmac("followup", "due", "--within", "365d", "--json").stdout.count('"3m"') == 1


def test_a_visit_moved_or_added_in_the_worklist_is_found(record: Clinic, bmac: Bmac) -> None:
    sql(record, "UPDATE due_visits SET due_at = '2099-01-01T00:00:00.000000Z' WHERE case_id = 1")
    sql(
        record,
        "INSERT INTO due_visits (case_id, visit, due_at, patient_ref, knee) "
        "VALUES (2, 'adhoc', '2026-01-01T00:00:00.000000Z', 'P-0002', 'left')",
    )
    sql(record, "UPDATE due_visits SET patient_ref = 'P-0001' WHERE case_id = 2 AND visit = '6m'")
    lines = altered(bmac)
    assert [line.split(",")[0] for line in lines] == ["case 1", "case 2"]
    assert "1w due 2099-01-01T00:00:00.000000Z" in lines[0].split("; not in the log ")[1]
    wrong_patient = lines[1].split("; not in the log ")[1]
    assert wrong_patient.startswith("6m due ") and wrong_patient.endswith(
        " for P-0001 left, adhoc due 2026-01-01T00:00:00.000000Z"
    )


def test_a_deleted_last_entry_is_caught_against_the_last_checkpoint(
    record: Clinic, bmac: Bmac
) -> None:
    mark = bmac("audit", "checkpoint", who="auditor")
    assert mark.exit_code == 0, mark.stderr
    sql(record, "DELETE FROM entries WHERE case_id = 1 AND seq = 8")
    resave_row(record, 1)
    # A careful forger leaves a record that is consistent in itself, but not with the signed
    # checkpoint stored in it...
    gone = ["case 1, seq 8, entries the checkpoint covers are gone (deleted)"]
    assert altered(bmac) == gone
    # ...nor, once that row is gone too, with the digest written down.
    sql(record, "DELETE FROM checkpoints")
    assert bmac("audit", "verify").exit_code == 0
    lines = altered(bmac, "--against", mark.stdout.strip())
    assert lines == [f"record, seq -, checkpoint {grouped(mark.stdout.strip())} is not in the "
                     "database: its row was removed, or the digest was mistyped"]  # fmt: skip


def test_a_rewritten_and_rehashed_case_is_caught_by_its_signatures(
    record: Clinic, bmac: Bmac
) -> None:
    previous = "0" * 64
    for seq in range(1, 9):
        entry = json.loads(body_of(record, 2, seq))
        entry["prev_hash"] = previous
        if entry["action"] == "open":
            entry["data"]["patient_ref"] = "P-9999"
        body = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        rewrite(record, 2, seq, body, rehash=True)
        previous = digest(body)
    resave_row(record, 2)
    lines = altered(bmac)
    # Each entry signs the hash of the one before: the whole rewritten chain fails.
    assert lines[0] == (
        "case 2, seq 1, the signer's signature (nurse) does not verify: altered or forged"
    )
    assert [line.split(",")[:2] for line in lines if "signer's" in line] == [
        ["case 2", f" seq {seq}"] for seq in range(1, 9)
    ]
    others = [line for line in lines if "signature" not in line]
    assert others == [
        "case 2, seq 8, case row patient_ref 'P-0002' differs from the log's 'P-9999'"
    ]


def test_a_removed_checkpoint_row_is_caught(record: Clinic, bmac: Bmac) -> None:
    mark = bmac("audit", "checkpoint", who="auditor").stdout.strip()
    sql(record, "DELETE FROM checkpoints")
    lines = altered(bmac, "--against", mark)
    assert "is not in the database" in lines[0]


def test_the_digest_is_accepted_in_groups_as_written_on_paper(record: Clinic, bmac: Bmac) -> None:
    mark = bmac("audit", "checkpoint", who="auditor")
    paper = mark.stderr.split("for paper: ")[1].strip()
    assert len(paper.split()) == 8
    assert bmac("audit", "verify", "--against", paper.upper()).exit_code == 0
