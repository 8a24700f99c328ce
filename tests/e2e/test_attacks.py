"""The attack suite: what someone who holds the database can try, and how it is caught.

The attacker has write access to the SQLite file, or the PostgreSQL workstation role: they can
INSERT anywhere and UPDATE the current-state tables, with no append-only trigger dropped unless
a test says so. They know their own PIN (a nurse's) and no other. Each attack is either refused
by `bmac` (exit 6, or 8 when the record is found altered) or caught by `bmac audit verify` (exit
8, naming the case and seq, or the operator), on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import text

from bmac_workflow import keys
from bmac_workflow.protocol import default_text
from bmac_workflow.record import GENESIS, Entry, Meaning, Signature, digest
from bmac_workflow.registry import ADD, RegistryEntry
from bmac_workflow.services.checkpoints import grouped
from bmac_workflow.timeutil import iso, utcnow
from tests.conftest import Bmac, Clinic, advance_to
from tests.integration.test_tamper import forgeable, resave_row, sql
from tests.walk import PINS, step_args, step_values


def altered(bmac: Bmac, *args: str) -> list[str]:
    """Run verify, expect exit 8, and return the problem lines."""
    result = bmac("audit", "verify", *args)
    assert result.exit_code == 8, (result.stdout, result.stderr)
    assert result.stderr.startswith("error: the record was altered")
    return result.stdout.splitlines()


def clean(bmac: Bmac) -> None:
    result = bmac("audit", "verify", "--full")
    assert result.exit_code == 0, result.stdout


def refused(result: Any, code: int, *words: str) -> None:
    assert result.exit_code == code, (result.stdout, result.stderr)
    line = result.stderr.strip()
    assert line.startswith("error: ") and "\n" not in line, line
    for word in words:
        assert word in line, line


def scalar(clinic: Clinic, query: str, **params: object) -> Any:
    with clinic.engine.connect() as conn:
        return conn.execute(text(query), params).scalar_one()


def seed_of(clinic: Clinic, who: str) -> bytes:
    """The signing key of `who`, as only someone who knows their PIN can unseal it."""
    sealed = scalar(clinic, "SELECT sealed_key FROM operators WHERE id = :i", i=who)
    seed = keys.unseal(sealed, PINS[who])
    assert seed is not None
    return seed


def registry_length(clinic: Clinic) -> int:
    return int(scalar(clinic, "SELECT count(*) FROM registry"))


def head(clinic: Clinic, case_id: int) -> tuple[int, str]:
    with clinic.engine.connect() as conn:
        row = conn.execute(
            text("SELECT seq, hash FROM entries WHERE case_id = :c ORDER BY seq DESC LIMIT 1"),
            {"c": case_id},
        ).one()
    return int(row[0]), str(row[1])


def append_forged(
    clinic: Clinic,
    case_id: int,
    action: str,
    states: tuple[str | None, str],
    data: dict[str, Any],
    signer: Signature,
    seed: bytes,
    verifier: tuple[Signature, bytes] | None = None,
) -> int:
    """Insert a signed entry at the end of a case, chain re-computed, and bring the case row
    into line with it (a careful forger): its seq."""
    seq, prev = head(clinic, case_id)
    now = iso(utcnow())
    entry = Entry(
        case_id, seq + 1, action, states[0], states[1], now, now, signer, data, prev,
        verifier=verifier[0] if verifier else None, registry=registry_length(clinic),
    )  # fmt: skip
    content = entry.content()
    signatures = {"signer": keys.sign(seed, content)}
    if verifier:
        signatures["verifier"] = keys.sign(verifier[1], content)
    body = replace(entry, signatures=signatures).body()
    sql(
        clinic,
        "INSERT INTO entries (case_id, seq, body, hash) VALUES (:c, :s, :b, :h)",
        c=case_id, s=seq + 1, b=body, h=digest(body),
    )  # fmt: skip
    resave_row(clinic, case_id)
    return seq + 1


def assessment_data(clinic: Clinic) -> dict[str, Any]:
    """The data of a real assessment (signed by the surgeon on a case of its own)."""
    other = clinic.open("P-0900")
    return clinic.fire(other, "assess", step_values("assess", other), "surgeon").entry.data


def signature_of(clinic: Clinic, who: str, meaning: str, role: str | None = None) -> Signature:
    op = clinic.ops[who]
    return Signature(op.id, op.name, role or op.role, meaning, op.public_key)


# -- forged entries ------------------------------------------------------------------------------


def test_an_assessment_forged_as_the_surgeon_with_the_attackers_own_key_is_caught(
    clinic: Clinic, bmac: Bmac
) -> None:
    case_id = clinic.open()
    mine, my_key = keys.new_key()
    forged = replace(signature_of(clinic, "surgeon", "assessed"), key=my_key)
    seq = append_forged(
        clinic, case_id, "assess", ("imaging_assessment", "marrow_collection"),
        assessment_data(clinic), forged, mine,
    )  # fmt: skip
    assert clinic.state_of(case_id) == "marrow_collection"  # the row went along
    assert altered(bmac) == [f"case {case_id}, seq {seq}, signed with a key that was not surgeon's"]


def test_an_assessment_forged_under_the_surgeons_real_public_key_is_caught(
    clinic: Clinic, bmac: Bmac
) -> None:
    case_id = clinic.open()
    assessment = clinic.fire(clinic.open("P-0002"), "assess", who="surgeon",
                             values=step_values("assess", 2)).entry  # fmt: skip
    mine, _ = keys.new_key()
    signer = signature_of(clinic, "surgeon", "assessed")
    data = {
        **step_values("assess", case_id),
        **{k: v for k, v in assessment.data.items() if k not in step_values("assess", 2)},
    }
    seq = append_forged(
        clinic, case_id, "assess", ("imaging_assessment", "marrow_collection"), data, signer, mine
    )
    assert altered(bmac) == [
        f"case {case_id}, seq {seq}, the signer's signature (surgeon) does not verify: "
        "altered or forged"
    ]


def test_an_impossible_transition_signed_by_a_real_nurse_is_caught_by_the_rerun(
    clinic: Clinic, bmac: Bmac
) -> None:
    # A nurse "injects" a cancelled case from imaging assessment to follow-up, with no
    # verifier, signing with her own key and PIN: every hash and signature holds.
    case_id = clinic.open()
    clinic.fire(case_id, "cancel", who="surgeon", reason="patient withdrew consent")
    nurse = signature_of(clinic, "nurse", "performed")
    data = step_values("inject", case_id)
    seq = append_forged(
        clinic, case_id, "inject", ("imaging_assessment", "follow_up"), data, nurse,
        seed_of(clinic, "nurse"),
    )  # fmt: skip
    lines = altered(bmac)
    assert lines[0] == (
        f"case {case_id}, seq {seq}, inject from imaging_assessment, but the case was in cancelled"
    )
    assert all(line.startswith(f"case {case_id}, seq {seq},") for line in lines)


def test_a_nurse_who_signs_an_injection_herself_is_caught_by_the_rules(
    clinic: Clinic, bmac: Bmac
) -> None:
    case_id = clinic.open()
    advance_to(clinic, case_id, "injection")
    nurse = signature_of(clinic, "nurse", "performed")
    verifier = (signature_of(clinic, "nurse2", "verified"), seed_of(clinic, "nurse2"))
    seq = append_forged(
        clinic, case_id, "inject", ("injection", "follow_up"), step_values("inject", case_id),
        nurse, seed_of(clinic, "nurse"), verifier,
    )  # fmt: skip
    lines = altered(bmac)
    assert any(
        line.startswith(f"case {case_id}, seq {seq}, inject breaks a rule:") and "nurse" in line
        for line in lines
    ), lines


# -- the operators table is a cache -----------------------------------------------------------


def test_a_role_changed_in_the_table_signs_nothing_and_is_caught(
    clinic: Clinic, bmac: Bmac
) -> None:
    case_id = clinic.open()
    sql(clinic, "UPDATE operators SET role = 'surgeon' WHERE id = 'nurse'")
    before = clinic.counts()
    cancel = bmac("case", "cancel", str(case_id), "--reason", "mine now", who="nurse")
    refused(cancel, 6, "disagrees with the signed registry about nurse")
    assert clinic.counts() == before
    assert altered(bmac) == [
        "record, seq -, operator nurse: the operators table says "
        f"('Nurse Name', 'surgeon', True, '{clinic.ops['nurse'].public_key}'), the registry "
        f"('Nurse Name', 'nurse', True, '{clinic.ops['nurse'].public_key}')"
    ]


def test_one_operators_credentials_copied_onto_another_sign_nothing(
    clinic: Clinic, bmac: Bmac
) -> None:
    case_id = clinic.open()
    advance_to(clinic, case_id, "filtering")
    before = clinic.counts()
    # The sealed key alone: the nurse's PIN opens it, but it is not nurse2's key.
    sql(clinic, "UPDATE operators SET sealed_key = (SELECT sealed_key FROM operators o "
                "WHERE o.id = 'nurse') WHERE id = 'nurse2'")  # fmt: skip
    as_nurse2 = bmac(*step_args("filter", case_id), who="nurse2", pin=PINS["nurse"])
    refused(as_nurse2, 6, "not the one the registry holds for them")
    # The public key too: the table no longer agrees with the registry.
    sql(clinic, "UPDATE operators SET public_key = (SELECT public_key FROM operators o "
                "WHERE o.id = 'nurse') WHERE id = 'nurse2'")  # fmt: skip
    again = bmac(*step_args("filter", case_id), who="nurse2", pin=PINS["nurse"])
    refused(again, 6, "disagrees with the signed registry about nurse2")
    assert {k: v for k, v in clinic.counts().items() if k != "operator_events"} == {
        k: v for k, v in before.items() if k != "operator_events"
    }
    lines = altered(bmac)
    assert len(lines) == 1 and lines[0].startswith("record, seq -, operator nurse2:")


def test_an_admin_inserted_into_the_table_manages_nobody_and_is_caught(
    clinic: Clinic, bmac: Bmac
) -> None:
    seed, public = keys.new_key()
    sql(
        clinic,
        "INSERT INTO operators (id, name, role, active, pin_hash, failed_pins, created_at, "
        "public_key, sealed_key, must_change_pin) VALUES ('mallory', 'Mallory', 'admin', "
        ":t, '', 0, :now, :pk, :sk, :f)",
        t=True, f=False, now=iso(utcnow()), pk=public, sk=keys.seal(seed, "739164"),
    )  # fmt: skip
    before = clinic.counts()
    add = bmac("operator", "add", "eve", "--name", "Eve", "--role", "admin",
               who="mallory", pin="739164", env={"BMAC_NEW_PIN": "582047"})  # fmt: skip
    refused(add, 6, "no operator 'mallory'")
    assert clinic.counts() == before
    assert altered(bmac) == [
        "record, seq -, operator mallory is in the operators table, not the registry"
    ]


def test_an_admin_self_signed_into_the_registry_is_refused_by_every_command(
    clinic: Clinic, bmac: Bmac
) -> None:
    # The registry is append-only, but an INSERT is allowed: Mallory adds herself, signed
    # with her own key. No admin of the clinic signed it, so the registry no longer verifies.
    seed, public = keys.new_key()
    seq, prev = (
        registry_length(clinic),
        scalar(clinic, "SELECT hash FROM registry ORDER BY seq DESC LIMIT 1"),
    )
    me = Signature("mallory", "Mallory", "admin", Meaning.APPROVED, public)
    act = RegistryEntry(seq + 1, ADD, "mallory", {"name": "Mallory", "role": "admin",
                        "public_key": public}, iso(utcnow()), me, prev)  # fmt: skip
    act = replace(act, signatures={"signer": keys.sign(seed, act.content())})
    sql(clinic, "INSERT INTO registry (seq, body, hash) VALUES (:s, :b, :h)",
        s=seq + 1, b=act.body(), h=digest(act.body()))  # fmt: skip
    before = clinic.counts()
    step = bmac("case", "open", "--patient", "P-0009", "--knee", "left", who="nurse")
    refused(step, 8, "registry")
    assert clinic.counts() == before
    lines = altered(bmac)
    assert lines[0].startswith(f"record, seq {seq + 1}, ") and "mallory" in lines[0], lines


# -- protocols -----------------------------------------------------------------------------------


def test_a_stored_protocol_cannot_be_edited_in_place(clinic: Clinic) -> None:
    from sqlalchemy.exc import DatabaseError

    with pytest.raises(DatabaseError), clinic.engine.begin() as conn:
        conn.execute(text("UPDATE protocols SET content = replace(content, '120', '400')"))
    with pytest.raises(DatabaseError), clinic.engine.begin() as conn:
        conn.execute(text("DELETE FROM protocols"))


def test_a_protocol_edited_with_its_trigger_dropped_is_caught_and_rules_nothing(
    clinic: Clinic, bmac: Bmac
) -> None:
    case_id = clinic.open()
    advance_to(clinic, case_id, "injection")
    forgeable(clinic)  # the triggers dropped
    sql(clinic, "UPDATE protocols SET content = replace(content, "
                "'window_minutes = 120', 'window_minutes = 400')")  # fmt: skip
    refused(bmac(*step_args("inject", case_id), who="surgeon"), 8, "another protocol")
    lines = altered(bmac)
    assert f"case {case_id}, seq 1, the protocol the case was opened under is missing, or its " \
           "stored content was altered" in lines  # fmt: skip


def test_a_case_moved_to_another_protocol_is_refused_and_caught(
    clinic: Clinic, bmac: Bmac, tmp_path: Any
) -> None:
    # A refused 300-minute injection must not become an accepted one.
    shipped = clinic.protocol.version
    lenient = tmp_path / "lenient.toml"
    lenient.write_text(
        default_text()
        .replace(f'version = "{shipped}"', 'version = "lenient"')
        .replace("window_minutes = 120", "window_minutes = 400")
    )
    assert bmac("protocol", "activate", str(lenient), who="admin").exit_code == 0
    strict_case = clinic.open(protocol=shipped)
    lenient_id = scalar(clinic, "SELECT id FROM protocols WHERE version = 'lenient'")
    sql(clinic, "UPDATE cases SET protocol_id = :p WHERE id = :c", p=lenient_id, c=strict_case)
    assess = bmac(*step_args("assess", strict_case), who="surgeon")
    refused(assess, 8, "stored under another protocol than the one it was opened under")
    lines = altered(bmac)
    assert lines == [
        f"case {strict_case}, seq 1, the case row names another protocol than the one it was "
        "opened under"
    ]


# -- the case row is a cache -------------------------------------------------------------------


def test_a_case_row_advanced_past_steps_then_injected_through_bmac_is_caught(
    clinic: Clinic, bmac: Bmac
) -> None:
    case_id = clinic.open()
    advance_to(clinic, case_id, "filtering")
    # Skip filtering, centrifugation, plasma removal and concentration in the cached row.
    facts = json.loads(scalar(clinic, "SELECT facts FROM cases WHERE id = :c", c=case_id))
    facts["state"] = "injection"
    sql(clinic, "UPDATE cases SET state = 'injection', facts = :f WHERE id = :c",
        f=json.dumps(facts, sort_keys=True), c=case_id)  # fmt: skip
    injected = bmac(*step_args("inject", case_id), who="surgeon")
    assert injected.exit_code == 0, injected.stderr  # the cache is all bmac reads to decide
    lines = altered(bmac)
    assert lines[0] == (
        f"case {case_id}, seq 4, inject from injection, but the case was in filtering"
    )


def test_a_specimen_label_freed_in_the_case_row_and_used_again_is_caught(
    clinic: Clinic, bmac: Bmac
) -> None:
    first = clinic.open()
    advance_to(clinic, first, "filtering")
    label = step_values("collect", first)["specimen_id"]
    sql(clinic, "UPDATE cases SET specimen_id = NULL WHERE id = :c", c=first)
    second = clinic.open("P-0002")
    clinic.fire(second, "assess", step_values("assess", second), "surgeon")
    reused = bmac(*step_args("collect", second, specimen_id=label), who="nurse")
    assert reused.exit_code == 0, reused.stderr  # the unique column was emptied first
    lines = altered(bmac)
    assert f"case {first}, seq 3, case row specimen_id None differs from the log's '{label}'" \
        in lines  # fmt: skip
    assert f"case {second}, seq 3, specimen {label} is case {first}'s already: one specimen " \
        "belongs to one case" in lines  # fmt: skip


# -- checkpoints -------------------------------------------------------------------------------


def test_a_checkpoint_row_forged_in_an_auditors_name_is_caught(clinic: Clinic, bmac: Bmac) -> None:
    from bmac_workflow import checkpoint

    clinic.open()
    mine, my_key = keys.new_key()
    auditor = replace(signature_of(clinic, "auditor", Meaning.REVIEWED), key=my_key)
    with clinic.uow(write=False) as uow:
        heads = uow.repo.current_heads()
    body = checkpoint.body(iso(utcnow()), auditor, heads, (registry_length(clinic), "x" * 64),
                           [], 1, checkpoint.Logs({}, (0, GENESIS)))  # fmt: skip
    signature = keys.sign(mine, checkpoint.signed_content(body))
    with clinic.uow() as uow:
        uow.repo.add_checkpoint(iso(utcnow()), "auditor", {"1": 1}, digest(body), body, signature)
        uow.commit()
    lines = altered(bmac)
    assert lines == [
        f"record, seq -, checkpoint {digest(body)[:16]}...: it was signed with a key that was "
        "not auditor's"
    ]
    # An unsigned one, as before keys, stands for nothing in a database that never had them.
    with clinic.uow() as uow:
        uow.repo.add_checkpoint(iso(utcnow()), "auditor", {"1": 1}, "0" * 64)
        uow.commit()
    assert f"record, seq -, checkpoint {'0' * 16}... is not signed" in altered(bmac)


def test_a_whole_case_deleted_is_caught_against_the_checkpoint_and_its_id_never_returns(
    clinic: Clinic, bmac: Bmac
) -> None:
    forgeable(clinic)
    gone = clinic.open("P-0003")
    advance_to(clinic, gone, "follow_up")
    mark = bmac("audit", "checkpoint", who="auditor")
    assert mark.exit_code == 0, mark.stderr
    digest_kept = mark.stdout.strip()
    for table in ("due_visits", "case_materials", "entries"):
        sql(clinic, f"DELETE FROM {table} WHERE case_id = :c", c=gone)
    sql(clinic, "DELETE FROM cases WHERE id = :c", c=gone)
    assert altered(bmac) == [
        f"case {gone}, seq 8, entries the checkpoint covers are gone (deleted)"
    ]
    # Without the stored checkpoint, the digest kept away from the database still tells.
    sql(clinic, "DELETE FROM checkpoints")
    assert bmac("audit", "verify").exit_code == 0
    assert altered(bmac, "--against", digest_kept) == [
        f"record, seq -, checkpoint {grouped(digest_kept)} is not in the database: its row was "
        "removed, or the digest was mistyped"
    ]
    # The next case never takes the deleted one's id.
    assert clinic.open("P-0004") == gone + 1


def test_the_untouched_record_verifies_with_every_signature(clinic: Clinic, bmac: Bmac) -> None:
    case_id = clinic.open()
    advance_to(clinic, case_id, "follow_up")
    assert bmac("audit", "checkpoint", who="auditor").exit_code == 0
    clean(bmac)


def test_a_registry_forged_from_scratch_is_told_by_the_root_key_written_down(
    clinic: Clinic, bmac: Bmac
) -> None:
    # A forger who rebuilds the whole registry under a root of their own leaves a record that
    # is consistent in itself: only the root fingerprint the clinic wrote down tells.
    written = keys.fingerprint(clinic.ops["admin"].public_key or "")
    shown = bmac("audit", "verify")
    assert f"root key: {written} (compare it with the one written down)" in shown.stdout
    assert bmac("audit", "verify", "--root", written.upper().replace(":", " ")).exit_code == 0
    forger = keys.fingerprint(keys.new_key()[1])
    assert altered(bmac, "--root", forger) == [
        f"record, seq -, the registry's root key is {written}, not {forger}: the operator "
        "registry is not the clinic's"
    ]


@pytest.mark.parametrize("how", ["changed", "rehashed", "deleted"])
def test_an_access_log_entry_changed_or_deleted_is_caught(
    clinic: Clinic, bmac: Bmac, how: str
) -> None:
    """A forger hides who read a patient: the triggers refuse it (test_append_only.py covers
    every log table); with them dropped, the chain still tells (exit 8)."""
    forgeable(clinic)
    for case in ("1", "2", "1"):
        assert bmac("case", "status", case).exit_code == 0
    body = scalar(clinic, "SELECT body FROM access_log WHERE seq = 2")
    hidden = body.replace('"operator":"auditor"', '"operator":"nobody"')
    if how == "changed":
        sql(clinic, "UPDATE access_log SET body = :b WHERE seq = 2", b=hidden)
    elif how == "rehashed":
        forged = "UPDATE access_log SET body = :b, hash = :h, operator_id = 'nobody' WHERE seq = 2"
        sql(clinic, forged, b=hidden, h=digest(hidden))
    else:
        sql(clinic, "DELETE FROM access_log WHERE seq = 2")
    result = bmac("audit", "verify")
    assert result.exit_code == 8, result.stdout
    assert "access log entry" in result.stdout


def test_the_last_refusal_of_a_case_removed_is_caught_against_the_checkpoint(
    clinic: Clinic, bmac: Bmac
) -> None:
    # Nothing after a case's last refusal links to it: only a checkpoint holds its head.
    from tests.e2e.test_time_cli import _refusal_case

    case_id = _refusal_case(clinic)
    assert bmac("audit", "checkpoint", who="auditor").exit_code == 0
    sql(clinic, "DELETE FROM refusals WHERE case_id = :c AND seq = 2", c=case_id)
    assert altered(bmac) == [
        f"case {case_id}, seq -, the refusals the checkpoint covers (up to refusal 2) were "
        "removed or rewritten"
    ]


def test_the_access_log_rewritten_from_an_entry_on_is_caught_against_the_checkpoint(
    clinic: Clinic, bmac: Bmac
) -> None:
    # A forger who rewrites every access entry from the one they hide on leaves a chain that
    # links: the head a checkpoint signed tells.
    forgeable(clinic)
    for case in ("1", "2"):
        assert bmac("case", "status", case).exit_code == 0
    assert bmac("audit", "checkpoint", who="auditor").exit_code == 0
    covered = scalar(clinic, "SELECT max(seq) FROM access_log")
    sql(clinic, "DELETE FROM access_log WHERE seq >= 2")
    lines = altered(bmac)
    assert (
        f"record, seq -, the access log the checkpoint covers (up to entry {covered}) was "
        "removed or rewritten"
    ) in lines


# -- quality records: lot holds, devices, deviations (issue 17) -------------------------------


QA_PIN = "739184"


def quality_clinic(clinic: Clinic, bmac: Bmac) -> tuple[int, int]:
    """Two cases collected: one on kit lot K-1, one on K-2 (the clinic has a qa operator)."""
    ids = []
    for patient, lot in (("P-0001", "K-1"), ("P-0002", "K-2")):
        case_id = clinic.open(patient)
        advance_to(clinic, case_id, "marrow_collection")
        done = bmac(*step_args("collect", case_id, kit_lot=lot), who="nurse")
        assert done.exit_code == 0, done.stderr
        ids.append(case_id)
    return ids[0], ids[1]


def test_a_lot_hold_deleted_from_the_quality_log_is_caught(clinic: Clinic, bmac: Bmac) -> None:
    held, free = quality_clinic(clinic, bmac)
    assert bmac("lot", "hold", "K-1", "--reason", "recall", who="qa", pin=QA_PIN).exit_code == 0
    refused(bmac(*step_args("filter", held), who="nurse"), 6, "lot K-1 is held")
    assert bmac(*step_args("filter", free), who="nurse").exit_code == 0  # signed at position 1
    forgeable(clinic)
    sql(clinic, "DELETE FROM quality")
    assert bmac(*step_args("filter", held), who="nurse").exit_code == 0  # the hold is gone
    lines = altered(bmac)
    assert (
        f"case {free}, seq 4, entry names no quality log position it could have been signed at"
        in lines
    )


def test_a_hold_filed_under_another_lot_in_its_index_is_caught(clinic: Clinic, bmac: Bmac) -> None:
    held, _ = quality_clinic(clinic, bmac)
    assert bmac("lot", "hold", "K-1", "--reason", "recall", who="qa", pin=QA_PIN).exit_code == 0
    forgeable(clinic)
    sql(clinic, "UPDATE quality SET subject = 'K-X'")
    assert bmac(*step_args("filter", held), who="nurse").exit_code == 0
    lines = altered(bmac)
    assert (
        "record, seq 1, quality log: the row is filed under lot 'K-X', the act is about lot 'K-1'"
        in lines
    )
    assert any(
        line.startswith(f"case {held}, seq 4, filter breaks a rule: lot K-1 is held")
        for line in lines
    )


def test_a_devices_calibration_date_rewritten_is_caught(clinic: Clinic, bmac: Bmac) -> None:
    quality_clinic(clinic, bmac)
    added = bmac(
        "device", "add", "CF-9", "--kind", "centrifuge", "--calibration-due", "2020-01-01",
        who="qa", pin=QA_PIN,
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    forgeable(clinic)
    body = scalar(clinic, "SELECT body FROM quality WHERE seq = 1").replace(
        "2020-01-01", "2099-01-01"
    )
    sql(clinic, "UPDATE quality SET body = :b, hash = :h WHERE seq = 1", b=body, h=digest(body))
    lines = altered(bmac)
    assert (
        "record, seq 1, quality log: device_add of CF-9: the signature of qa does not verify"
        in lines
    )


def test_a_deviation_closed_in_its_cache_does_not_close_the_case_unseen(
    clinic: Clinic, bmac: Bmac
) -> None:
    quality_clinic(clinic, bmac)
    added = bmac(
        "device", "add", "CF-9", "--kind", "centrifuge", "--calibration-due", "2020-01-01",
        who="qa", pin=QA_PIN,
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    case_id = clinic.open("P-0003")
    advance_to(clinic, case_id, "centrifugation")
    args = step_args("centrifuge", case_id, device_id="CF-9", override_reason="only one")
    assert bmac(*args, who="surgeon").exit_code == 0
    advance_to(clinic, case_id, "follow_up")
    refused(bmac("case", "close", str(case_id), "--reason", "moved", who="surgeon"), 4, "#1")
    sql(clinic, "UPDATE deviations SET closed_seq = 99")
    assert bmac("case", "close", str(case_id), "--reason", "moved", who="surgeon").exit_code == 0
    lines = altered(bmac)
    assert f"case {case_id}, seq 5, deviations list lacks the device deviation (open)" in lines
    assert any(
        line.startswith(f"case {case_id}, seq 9, close breaks a rule: the case has open deviations")
        for line in lines
    )


def test_a_patient_removed_from_the_trace_index_is_caught(clinic: Clinic, bmac: Bmac) -> None:
    held, _ = quality_clinic(clinic, bmac)
    sql(clinic, "DELETE FROM case_materials WHERE case_id = :c", c=held)
    assert bmac("trace", "lot", "K-1", "--json").stdout.strip() == "[]"
    lines = altered(bmac)
    assert f"case {held}, seq 3, the trace index lacks lot 'K-1' of this entry" in lines
