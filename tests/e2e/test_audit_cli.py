"""The audit commands as an auditor uses them: replay, checkpoint, export, offline verification."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey

from bmac_workflow import keys
from bmac_workflow.record import Entry, canonical, digest
from bmac_workflow.services import cases, operators
from bmac_workflow.timeutil import iso, utcnow
from tests.conftest import Bmac, Clinic, advance_to, credentials
from tests.unit.test_verify_export import run_verifier
from tests.walk import step_args, step_values


def as_json(result: Any) -> Any:
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def demo_like_cases(clinic: Clinic) -> list[int]:
    """A case in every state of the happy path, plus ineligible, cancelled, overridden,
    followed-up, closed and corrected ones."""
    ids = []
    for state in ("imaging_assessment", "marrow_collection", "concentration", "follow_up"):
        case_id = clinic.open(patient=f"P-{len(ids) + 1:04d}")
        advance_to(clinic, case_id, state)
        ids.append(case_id)
    ineligible = clinic.open(patient="P-0100")
    no = {**step_values("assess", ineligible), "kl_grade": 4, "baseline_vas": 8}
    clinic.fire(ineligible, "assess", no, "surgeon")
    overridden = clinic.open(patient="P-0101")
    clinic.fire(
        overridden, "assess", {**no, "kl_grade": 1, "override_reason": "young, active"}, "surgeon"
    )
    clinic.fire(overridden, "collect", step_values("collect", overridden), "nurse")
    cancelled = clinic.open(patient="P-0102")
    advance_to(clinic, cancelled, "filtering")
    clinic.fire(cancelled, "cancel", {}, "surgeon", reason="patient withdrew")
    closed = clinic.open(patient="P-0103")
    advance_to(clinic, closed, "follow_up")
    clinic.fire(closed, "record_follow_up", {"visit": "1w", "vas": 3}, "nurse")
    clinic.fire(closed, "close", {}, "surgeon", reason="lost to follow-up")
    return [*ids, ineligible, overridden, cancelled, closed]


def test_replay_of_every_demo_like_case_ends_in_its_status(clinic: Clinic, bmac: Bmac) -> None:
    cases = demo_like_cases(clinic)
    corrected = bmac(
        "case",
        "correct",
        "4",
        "--entry",
        "3",
        "--set",
        "aspirate_ml=66",
        "--reason",
        "scale misread",
        who="nurse",
    )
    assert corrected.exit_code == 0, corrected.stderr
    for case_id in cases:
        status = as_json(bmac("case", "status", str(case_id), "--json"))
        replayed = as_json(bmac("audit", "replay", str(case_id), "--json"))
        assert len(replayed["steps"]) == status["entries"]
        final = {k: v for k, v in replayed["final"].items() if k != "window_minutes_left"}
        # Status adds the case's deviations (from their list), which a replay has not.
        shown = {k: v for k, v in status.items() if k not in ("window_minutes_left", "deviations")}
        assert final == shown
    text = bmac("audit", "replay", "4")
    assert text.exit_code == 0
    assert text.stdout.splitlines()[-1] == "state: follow_up after 10 entries"
    assert "concentration_factor: 11.0" in text.stdout


def test_replay_at_a_time_between_two_steps_gives_the_earlier_state(
    clinic: Clinic, bmac: Bmac
) -> None:
    start = utcnow() - timedelta(hours=3)
    case_id = clinic.open(at=start - timedelta(minutes=5))
    advance_to(clinic, case_id, "follow_up", start=start)  # steps at +0, +10, ... +60 min
    between = iso(start + timedelta(minutes=25))  # after filter (+20), before centrifuge (+30)
    replayed = as_json(bmac("audit", "replay", str(case_id), "--at", between, "--json"))
    assert [s["action"] for s in replayed["steps"]][-1] == "filter"
    assert replayed["final"]["state"] == "centrifugation"
    assert replayed["final"]["volumes_ml"] == {"aspirate_ml": 60.0, "filtered_ml": 55.0}
    too_early = bmac("audit", "replay", str(case_id), "--at", iso(start - timedelta(days=1)))
    assert too_early.exit_code == 5 and "not opened yet" in too_early.stderr


OLD_DATABASE = Path(__file__).resolve().parents[1] / "fixtures" / "db-at-72fa156.sqlite3"
OLD_CHECKPOINT = "cb730e82d4eff2e52d6a26fa003f22e2ed013ab85bf9180b91fcf1f61cfefab2"
# The nurse's PIN as the admin resets it, and as the nurse then chooses it.
GIVEN_PIN, CHOSEN_PIN = "739184", "502613"
PATHS = {
    "pynacl": ((), False, "(Ed25519, PyNaCl)"),
    "pure": (("--pure",), False, "(Ed25519, pure Python: --pure)"),
    "no-pynacl": ((), True, "(Ed25519, pure Python: PyNaCl is not installed)"),
}


def signed_record(clinic: Clinic, bmac: Bmac) -> tuple[str, str]:
    """A record in which the nurse's key changed: case 1 taken to follow-up (8 entries) and
    checkpointed, then the nurse's PIN reset (a new key), and case 2 taken to filtering (3
    entries) under the new key. Its JSON export, and the checkpoint's digest."""
    advance_to(clinic, clinic.open(), "follow_up")
    mark = bmac("audit", "checkpoint", who="auditor").stdout.strip()
    operators.reset_pin("nurse", lambda: GIVEN_PIN, credentials("admin"), utcnow, clinic.db)
    first = credentials("nurse", GIVEN_PIN, CHOSEN_PIN)
    second = cases.open_case("P-0002", "left", None, first, None, utcnow, clinic.db).case.case_id
    clinic.fire(second, "assess", step_values("assess", second), "surgeon")
    clinic.fire(second, "collect", step_values("collect", second), "nurse", pin=CHOSEN_PIN)
    export = bmac("audit", "export", "--format", "json")
    assert export.exit_code == 0, export.stderr
    return export.stdout, mark


def verified(path: Path, how: str, *args: str) -> subprocess.CompletedProcess[str]:
    """docs/verify_export.py on `path`, with PyNaCl, with --pure, or with PyNaCl unimportable."""
    flags, without_nacl, _ = PATHS[how]
    return run_verifier(str(path), *flags, *args, without_nacl=without_nacl)


def entry_of(document: dict[str, Any], case_id: int, seq: int) -> dict[str, Any]:
    return next(e for e in document["entries"] if (e["case_id"], e["seq"]) == (case_id, seq))


def rewrite(item: dict[str, Any], body: dict[str, Any]) -> None:
    """Store `body` in an exported entry (or registry row) with its hash recomputed."""
    item["body"] = canonical(body)
    item["hash"] = digest(item["body"])


def flipped(signature: str) -> str:
    """A base64 signature with one byte changed."""
    raw = bytearray(base64.b64decode(signature))
    raw[17] ^= 0x20
    return base64.b64encode(bytes(raw)).decode()


def saved(tmp_path: Path, document: dict[str, Any] | str, name: str = "record.json") -> Path:
    path = tmp_path / name
    text = document if isinstance(document, str) else json.dumps(document, ensure_ascii=False)
    path.write_text(text, encoding="utf-8")
    return path


def test_an_export_carries_the_registry_and_verifies_offline_every_way(
    clinic: Clinic, bmac: Bmac, tmp_path: Path
) -> None:
    text, mark = signed_record(clinic, bmac)
    document = json.loads(text)
    assert document["format"] == "bmac-export/2"
    with clinic.uow(write=False) as uow:
        stored = uow.repo.registry_rows()
    assert [(r["seq"], r["body"], r["hash"]) for r in document["registry"]] == stored
    actions = [json.loads(r["body"])["action"] for r in document["registry"]]
    assert "reset_pin" in actions and "pin_changed" in actions
    signed = [json.loads(e["body"]) for e in document["entries"]]
    nurse_keys = {e["signer"]["key"] for e in signed if e["signer"]["id"] == "nurse"}
    assert len(nurse_keys) == 2  # the nurse signed with the first key, then with the new one
    assert [bool(c["body"] and c["signature"]) for c in document["checkpoints"]] == [True]
    path = saved(tmp_path, text)
    root = clinic.ops["admin"].public_key
    assert root is not None
    counts = set()
    for how in PATHS:
        ok = verified(path, how, "--against", mark, "--root", keys.fingerprint(root))
        assert ok.returncode == 0, (how, ok.stdout, ok.stderr)
        assert "verified: 11 entries in 2 case(s), 1 checkpoint(s)" in ok.stdout
        line = next(x for x in ok.stdout.splitlines() if x.startswith("signatures: "))
        assert line.endswith(PATHS[how][2]), line
        counts.add(line.split()[1])
        assert f"operator registry: {len(stored)} entries; root key fingerprint" in ok.stdout
    # Every entry's signatures (the injection's two), every signed act, the checkpoint.
    assert counts == {str(11 + 1 + sum(1 for a in actions if a != "migrated") + 1)}


def test_one_changed_byte_of_a_body_breaks_its_hash_and_its_signature(
    clinic: Clinic, bmac: Bmac, tmp_path: Path
) -> None:
    text, _ = signed_record(clinic, bmac)
    at = text.index("heparin")
    path = saved(tmp_path, text[:at] + "heparim" + text[at + 7 :], "altered.json")
    for how in ("pynacl", "pure"):
        refused = verified(path, how)
        assert refused.returncode == 1
        assert "case 1, seq 3, hash does not match the body" in refused.stdout
        assert "case 1, seq 3, the signer's signature (nurse) does not verify" in refused.stdout


def test_one_flipped_byte_of_a_signature_is_rejected(
    clinic: Clinic, bmac: Bmac, tmp_path: Path
) -> None:
    text, _ = signed_record(clinic, bmac)
    document = json.loads(text)
    item = entry_of(document, 1, 4)
    signature = json.loads(item["body"])["signatures"]["signer"]
    item["body"] = item["body"].replace(signature, flipped(signature))
    path = saved(tmp_path, document)
    for how in PATHS:
        refused = verified(path, how)
        assert refused.returncode == 1, how
        assert refused.stdout.splitlines() == [
            "case 1, seq 4, hash does not match the body",
            "case 1, seq 4, the signer's signature (nurse) does not verify",
        ]


@pytest.mark.parametrize(
    ("case_id", "seq", "part", "who"),
    [(2, 3, "signer", "nurse"), (1, 8, "verifier", "nurse2")],
    ids=["signer", "verifier"],
)
def test_a_changed_signature_is_rejected_though_the_hashes_are_recomputed(
    clinic: Clinic, bmac: Bmac, tmp_path: Path, case_id: int, seq: int, part: str, who: str
) -> None:
    text, _ = signed_record(clinic, bmac)
    document = json.loads(text)
    document["checkpoints"] = []  # case 1's head is under the checkpoint: leave it out
    item = entry_of(document, case_id, seq)  # the case's last entry: nothing links to it
    body = json.loads(item["body"])
    assert body[part]["id"] == who
    body["signatures"][part] = flipped(body["signatures"][part])
    rewrite(item, body)
    path = saved(tmp_path, document)
    for how in PATHS:
        refused = verified(path, how)
        assert refused.returncode == 1, how
        assert refused.stdout.splitlines() == [
            f"case {case_id}, seq {seq}, the {part}'s signature ({who}) does not verify"
        ]


def test_an_entry_signed_with_a_key_that_was_not_its_signers_is_rejected(
    clinic: Clinic, bmac: Bmac, tmp_path: Path
) -> None:
    text, _ = signed_record(clinic, bmac)
    document = json.loads(text)
    item = entry_of(document, 2, 3)
    body = json.loads(item["body"])
    forger = SigningKey.generate()
    body["signer"]["key"] = base64.b64encode(bytes(forger.verify_key)).decode()
    content = Entry.from_body(canonical(body)).content()
    body["signatures"]["signer"] = base64.b64encode(forger.sign(content).signature).decode()
    rewrite(item, body)
    path = saved(tmp_path, document)
    for how in PATHS:
        refused = verified(path, how)
        assert refused.returncode == 1, how
        # The signature holds for the key the entry names; that key was never the nurse's.
        assert refused.stdout.splitlines() == [
            "case 2, seq 3, signed with a key that was not nurse's"
        ]


def test_a_key_swapped_in_the_registry_is_rejected(
    clinic: Clinic, bmac: Bmac, tmp_path: Path
) -> None:
    text, _ = signed_record(clinic, bmac)
    document = json.loads(text)
    rows = document["registry"]
    at = next(
        i
        for i, r in enumerate(rows)
        if json.loads(r["body"])["action"] == "add" and json.loads(r["body"])["subject"] == "nurse"
    )
    body = json.loads(rows[at]["body"])
    body["data"]["public_key"] = base64.b64encode(bytes(SigningKey.generate().verify_key)).decode()
    rewrite(rows[at], body)
    for row in rows[at + 1 :]:  # the chain re-linked after it
        later = json.loads(row["body"])
        later["prev_hash"] = rows[row["seq"] - 2]["hash"]
        rewrite(row, later)
    path = saved(tmp_path, document)
    nurse_signed = [
        e["seq"]
        for e in document["entries"]
        if e["case_id"] == 1 and json.loads(e["body"])["signer"]["id"] == "nurse"
    ]
    for how in ("pynacl", "pure"):
        refused = verified(path, how)
        assert refused.returncode == 1, how
        lines = refused.stdout.splitlines()
        seq = rows[at]["seq"]
        assert f"registry, seq {seq}, add of nurse: the signature of admin does not verify" in lines
        for entry_seq in nurse_signed:  # signed before the reset, with the key swapped out
            assert f"case 1, seq {entry_seq}, signed with a key that was not nurse's" in lines
        assert not any(line.startswith("case 2") for line in lines)  # under the reset's key


def test_an_export_of_a_database_from_before_keys_verifies_its_old_entries_by_the_seal(
    tmp_path: Path,
) -> None:
    # The old release's database (tests/fixtures): 29 entries and a checkpoint, before keys;
    # upgraded, then the nurse takes a key at her first sign-in and signs one more step.
    copy = tmp_path / "old.sqlite3"
    shutil.copyfile(OLD_DATABASE, copy)
    old = Bmac(f"sqlite:///{copy}")
    assert old("db", "upgrade").exit_code == 0
    stepped = old(
        *step_args("centrifuge", 3), who="nurse", pin="1111", env={"BMAC_NEW_PIN": CHOSEN_PIN}
    )
    assert stepped.exit_code == 0, stepped.stderr
    export = old("audit", "export", "--format", "json", who="nurse", pin=CHOSEN_PIN)
    assert export.exit_code == 0, export.stderr
    path = saved(tmp_path, export.stdout)
    for how in PATHS:
        ok = verified(path, how, "--against", OLD_CHECKPOINT)
        assert ok.returncode == 0, (how, ok.stdout)
        assert "verified: 30 entries in 6 case(s), 1 checkpoint(s)" in ok.stdout
        assert "signatures: 2 verified" in ok.stdout  # the nurse's first key, her entry
        assert "29 entries signed before keys (checked by hash only)" in ok.stdout
    document = json.loads(export.stdout)
    last = max(e["seq"] for e in document["entries"] if e["case_id"] == 2)
    item = entry_of(document, 2, last)  # before keys: no signature, only its hash and the seal
    body = json.loads(item["body"])
    body["data"]["forged"] = True
    rewrite(item, body)
    refused = verified(saved(tmp_path, document, "forged.json"), "pure")
    assert refused.returncode == 1
    assert (
        "registry, -, entries signed before keys differ from those the migration sealed "
        "(added, removed or rewritten)"
    ) in refused.stdout.splitlines()
    assert "does not recompute from the exported entries" in refused.stdout  # the old checkpoint


def test_a_pseudonymized_json_export_is_a_chain_of_its_own_that_verifies_as_such(
    clinic: Clinic, bmac: Bmac, tmp_path: Path
) -> None:
    signed_record(clinic, bmac)
    key = {"BMAC_PSEUDONYM_KEY": "a-long-enough-secret-key"}
    export = bmac("audit", "export", "--format", "json", "--pseudonymize", env=key)
    assert export.exit_code == 0, export.stderr
    assert "P-0002" not in export.stdout
    document = json.loads(export.stdout)
    assert document["format"] == "bmac-export-pseudonymized/1"
    assert "registry" not in document and document["checkpoints"] == []
    plain = json.loads(bmac("audit", "export", "--format", "json").stdout)
    original = {e["hash"] for e in plain["entries"]}
    assert not original & {e["hash"] for e in document["entries"]}  # every hash recomputed
    assert all('"signatures"' not in e["body"] for e in document["entries"])
    path = saved(tmp_path, export.stdout)
    checked = verified(path, "pynacl")
    assert checked.returncode == 0, checked.stdout
    assert "verified as a pseudonymized export" in checked.stdout


def test_a_pseudonymized_csv_export_hides_patients_and_still_verifies(
    clinic: Clinic, bmac: Bmac, tmp_path: Path
) -> None:
    advance_to(clinic, clinic.open(patient="P-SECRET-7"), "filtering")
    refused = bmac("audit", "export", "--format", "csv", "--pseudonymize")
    assert refused.exit_code == 5 and "BMAC_PSEUDONYM_KEY" in refused.stderr
    key = {"BMAC_PSEUDONYM_KEY": "a-long-enough-secret-key"}
    export = bmac("audit", "export", "--format", "csv", "--pseudonymize", env=key)
    assert export.exit_code == 0, export.stderr
    assert "P-SECRET-7" not in export.stdout and "a-long-enough-secret-key" not in export.stdout
    assert "psn-" in export.stdout
    again = bmac("audit", "export", "1", "--format", "csv", "--pseudonymize", env=key)
    assert again.stdout == export.stdout  # same key, same pseudonyms
    path = saved(tmp_path, export.stdout, "record.csv")
    checked = run_verifier(str(path))
    assert checked.returncode == 0, checked.stdout
    assert "verified as a pseudonymized export: 3 entries in 1 case(s)" in checked.stdout


def test_only_auditors_take_checkpoints(clinic: Clinic, bmac: Bmac) -> None:
    for who in ("nurse", "admin"):
        refused = bmac("audit", "checkpoint", who=who)
        assert refused.exit_code == 6
    assert clinic.count("checkpoints") == 0
    taken = bmac("audit", "checkpoint", who="auditor")
    assert taken.exit_code == 0 and len(taken.stdout.strip()) == 64
    assert clinic.count("checkpoints") == 1


def test_verify_names_a_missing_case_and_a_malformed_digest(clinic: Clinic, bmac: Bmac) -> None:
    missing = bmac("audit", "verify", "42")
    assert missing.exit_code == 3 and missing.stderr.startswith("error: no case 42")
    malformed = bmac("audit", "verify", "--against", "abc")
    assert malformed.exit_code == 5 and "64 hex digits" in malformed.stderr


@pytest.mark.parametrize("command", ["verify", "checkpoint", "replay", "export"])
def test_every_audit_command_has_help_with_an_example(bmac: Bmac, command: str) -> None:
    result = bmac("audit", command, "--help")
    assert result.exit_code == 0
    assert "Example:" in result.stdout


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_exporting_an_unknown_case_writes_nothing(bmac: Bmac, fmt: str) -> None:
    result = bmac("audit", "export", "42", "--format", fmt)
    assert result.exit_code == 3
    assert result.stdout == ""
