"""Pseudonymised exports hold nothing derivable from a patient reference, and verify as a chain
of their own; an entry marked pseudonymised inside a plain export is an error (issue 15)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bmac_workflow.record import GENESIS, canonical
from tests.conftest import Bmac, Clinic, advance_to
from tests.e2e.test_readme import examples
from tests.unit.test_verify_export import run_verifier

KEY = {"BMAC_PSEUDONYM_KEY": "a-long-enough-secret-key"}
HEX64 = re.compile(r"[0-9a-f]{64}")


def strings_in(value: Any) -> Iterator[str]:
    """Every string in a JSON value, and every string inside those that are JSON themselves."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from strings_in(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings_in(v)
    elif isinstance(value, str):
        yield value
        if value.startswith('{"'):
            try:
                inner = json.loads(value)
            except ValueError:
                return
            yield from strings_in(inner)


def candidate_hashes(open_body: dict[str, Any], ref: str) -> set[str]:
    """What an attacker computes for one guessed reference: the opening entry's hash with the
    guess in it, as the body stands in the export and as it was stored (with the original
    chain start), and plain digests of the guess."""
    body = {**open_body, "data": {**open_body["data"], "patient_ref": ref}}
    guesses = {canonical(body), canonical({**body, "prev_hash": GENESIS}), ref}
    return {hashlib.sha256(g.encode()).hexdigest() for g in guesses}


def search_every_reference(export_text: str, open_bodies: list[dict[str, Any]]) -> list[str]:
    """Try P-0000 ... P-9999 against every value in the export: the references recovered."""
    values = set(HEX64.findall(export_text))
    found = []
    for number in range(10_000):
        ref = f"P-{number:04d}"
        if re.search(rf"(?<![A-Za-z0-9-]){ref}(?!\d)", export_text):  # not SP-0001
            found.append(ref)
            continue
        if any(candidate_hashes(body, ref) & values for body in open_bodies):
            found.append(ref)
    return found


@pytest.mark.slow
def test_a_pseudonymized_export_of_the_readme_session_gives_no_patient_ref_back(
    tmp_path: Path,
) -> None:
    """Acceptance 3: the README session, exported pseudonymised as JSON, CSV and FHIR."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BMAC_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    exports = (
        "\nexport BMAC_PSEUDONYM_KEY=use-a-long-random-key-here\n"
        "bmac audit export --format json --pseudonymize > pseudo.json\n"
        "bmac audit export 1 --format fhir --pseudonymize > pseudo.fhir.json\n"
        "bmac audit export --format json > plain.json\n"
    )
    done = subprocess.run(
        ["bash", "-euc", examples() + exports],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    with sqlite3.connect(tmp_path / "clinic.db") as conn:
        refs = [r[0] for r in conn.execute("SELECT patient_ref FROM cases")]
        stored = {r[0] for r in conn.execute("SELECT hash FROM entries")}
    assert refs == ["P-0042", "P-0043"]
    plain = json.loads((tmp_path / "plain.json").read_text())
    signatures = {
        s
        for e in plain["entries"]
        for s in (json.loads(e["body"]).get("signatures") or {}).values()
    }
    for name in ("pseudo.json", "record.csv", "pseudo.fhir.json"):
        text = (tmp_path / name).read_text()
        assert not any(ref in text for ref in refs), name
        assert not stored & set(HEX64.findall(text)), f"{name} holds a stored hash"
        assert not any(s in text for s in signatures), f"{name} holds a stored signature"
        if name.endswith(".csv"):
            rows = list(csv.DictReader(io.StringIO(text)))
            bodies = [json.loads(r["body"]) for r in rows]
        else:
            bodies = [
                json.loads(s) for s in strings_in(json.loads(text)) if s.startswith('{"action"')
            ]
        opening = [b for b in bodies if b.get("action") == "open"]
        assert name.endswith("fhir.json") or len(opening) == 2
        assert search_every_reference(text, opening) == [], name
        if not name.endswith("fhir.json"):
            checked = run_verifier(str(tmp_path / name))
            assert checked.returncode == 0, checked.stdout
            assert "verified as a pseudonymized export" in checked.stdout


def exported(bmac: Bmac, *args: str) -> dict[str, Any]:
    result = bmac("audit", "export", *args, env=KEY)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def verify(tmp_path: Path, document: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return run_verifier(str(path))


def test_an_entry_marked_pseudonymized_inside_a_plain_export_is_an_error(
    clinic: Clinic, bmac: Bmac, tmp_path: Path
) -> None:
    advance_to(clinic, clinic.open(patient="P-0007"), "filtering")
    document = exported(bmac, "--format", "json")
    entry = document["entries"][0]
    body = json.loads(entry["body"])
    body["data"]["knee"] = "right"  # altered, then marked to dodge the check
    entry["body"] = canonical(body)
    entry["pseudonymized"] = ["data.patient_ref"]
    checked = verify(tmp_path, document)
    assert checked.returncode == 1
    assert "marked pseudonymized inside a plain export" in checked.stdout


def test_an_altered_entry_of_a_pseudonymized_export_does_not_verify(
    clinic: Clinic, bmac: Bmac, tmp_path: Path
) -> None:
    advance_to(clinic, clinic.open(patient="P-0007"), "filtering")
    document = exported(bmac, "--format", "json", "--pseudonymize")
    assert verify(tmp_path, document).returncode == 0
    body = json.loads(document["entries"][1]["body"])
    body["data"]["kl_grade"] = 2
    document["entries"][1]["body"] = canonical(body)
    checked = verify(tmp_path, document)
    assert checked.returncode == 1
    assert "case 1, seq 2, hash does not match the body" in checked.stdout
    document["format"] = "bmac-export/2"  # passed off as a plain export
    assert "inside a plain export" in verify(tmp_path, document).stdout


def test_a_pseudonymized_fhir_bundle_carries_no_signature_and_no_stored_hash(
    clinic: Clinic, bmac: Bmac
) -> None:
    advance_to(clinic, clinic.open(patient="P-0007"), "filtering")
    plain = bmac("audit", "export", "1", "--format", "json").stdout
    stored = {e["hash"] for e in json.loads(plain)["entries"]}
    bundle = bmac("audit", "export", "1", "--format", "fhir", "--pseudonymize", env=KEY).stdout
    assert "P-0007" not in bundle and "psn-" in bundle
    assert not stored & set(HEX64.findall(bundle))
    assert '"signature"' not in bundle


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(clinic: Clinic, bmac: Bmac) -> None:
    case_id = clinic.open(patient="P-0008")
    cancelled = bmac(
        "case", "cancel", str(case_id), "--reason", '=HYPERLINK("http://x","y")', who="surgeon"
    )
    assert cancelled.exit_code == 0, cancelled.stderr
    text = bmac("audit", "export", "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[-1]["reason"] == '\'=HYPERLINK("http://x","y")'
    assert not any(
        cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for cell in row.values()
    )
    assert run_verifier_csv(text).returncode == 0


def run_verifier_csv(text: str) -> subprocess.CompletedProcess[str]:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "record.csv"
        path.write_text(text, encoding="utf-8")
        return run_verifier(str(path))
