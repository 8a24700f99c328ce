"""The quality log (lot holds, devices) in a JSON export: carried as stored, and checked offline
by docs/verify_export.py (hash links, signatures, who could sign) like the registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bmac_workflow import roles
from bmac_workflow.quality import ACTS
from bmac_workflow.record import canonical
from bmac_workflow.services import quality
from bmac_workflow.timeutil import utcnow
from tests.conftest import Bmac, Clinic, credentials
from tests.e2e.test_audit_cli import flipped, rewrite, saved, verified
from tests.unit.test_verify_export import verify_export
from tests.walk import step_values


def record_with_quality_acts(clinic: Clinic, bmac: Bmac) -> dict[str, Any]:
    """A device added (admin), a lot held (qa) and released (surgeon), then a case collected on
    that lot (its entry signed with the three acts in force): the JSON export."""
    quality.add_device("CF-9", "centrifuge", "2099-01-01", credentials("admin"), utcnow, clinic.db)
    quality.hold("K-1", "supplier recall", credentials("qa"), utcnow, clinic.db)
    quality.release("K-1", "recall withdrawn", credentials("surgeon"), utcnow, clinic.db)
    case_id = clinic.open()
    clinic.fire(case_id, "assess", step_values("assess", case_id), "surgeon")
    clinic.fire(case_id, "collect", {**step_values("collect", case_id), "kit_lot": "K-1"})
    export = bmac("audit", "export", "--format", "json")
    assert export.exit_code == 0, export.stderr
    document: dict[str, Any] = json.loads(export.stdout)
    return document


def test_the_quality_log_is_exported_as_stored_and_verifies_offline(
    clinic: Clinic, bmac: Bmac, tmp_path: Path
) -> None:
    document = record_with_quality_acts(clinic, bmac)
    with clinic.uow(write=False) as uow:
        stored = [(seq, body, found) for seq, _, _, body, found in uow.repo.quality_rows()]
    assert [(r["seq"], r["body"], r["hash"]) for r in document["quality"]] == stored
    assert [json.loads(r["body"])["action"] for r in document["quality"]] == [
        "device_add",
        "hold",
        "release",
    ]
    path = saved(tmp_path, document)
    for how in ("pynacl", "pure"):
        ok = verified(path, how)
        assert ok.returncode == 0, (how, ok.stdout)
        assert "quality log: 3 acts (lot holds, devices)" in ok.stdout


@pytest.mark.parametrize("how", ["pynacl", "pure"])
def test_a_changed_byte_in_a_quality_acts_signature_is_rejected(
    clinic: Clinic, bmac: Bmac, tmp_path: Path, how: str
) -> None:
    document = record_with_quality_acts(clinic, bmac)
    last = document["quality"][-1]
    act = json.loads(last["body"])
    act["signatures"]["signer"] = flipped(act["signatures"]["signer"])
    # As stored, the hash no longer matches; recomputed, the signature still does not verify.
    as_is = {**document, "quality": [*document["quality"][:-1], dict(last, body=canonical(act))]}
    refused = verified(saved(tmp_path, as_is), how)
    assert refused.returncode == 1
    assert "quality log, seq 3, hash does not match the body" in refused.stdout
    rewrite(last, act)
    refused = verified(saved(tmp_path, document, "rehashed.json"), how)
    assert refused.returncode == 1
    assert refused.stdout.splitlines() == [
        "quality log, seq 3, release of K-1: the signature of surgeon does not verify"
    ]


def test_a_quality_act_removed_or_signed_by_a_role_that_may_not_is_rejected(
    clinic: Clinic, bmac: Bmac, tmp_path: Path
) -> None:
    document = record_with_quality_acts(clinic, bmac)
    # The last act dropped: the chain still links, but the case's entry was signed with it.
    cut = {**document, "quality": document["quality"][:-1]}
    refused = verified(saved(tmp_path, cut), "pynacl")
    assert refused.stdout.splitlines() == [
        "quality log, -, entries were signed with 3 acts in force, the export holds 2 "
        "(acts removed?)"
    ]
    # The act in the middle dropped: the numbering and the links break.
    gap = {**document, "quality": [document["quality"][0], document["quality"][2]]}
    lines = verified(saved(tmp_path, gap, "gap.json"), "pynacl").stdout.splitlines()
    assert "quality log, seq 3, expected seq 2 (gap or repeat)" in lines
    assert "quality log, seq 3, prev_hash does not link" in lines


def test_the_verifiers_roles_for_quality_acts_are_the_role_matrix() -> None:
    assert set(verify_export.QUALITY_ACTS) == set(ACTS)
    for action, (kind, permission) in ACTS.items():
        about, allowed = verify_export.QUALITY_ACTS[action]
        assert about == kind
        assert set(allowed) == set(roles.allowed_roles(permission)), action
