"""Export the log with its hashes (JSON or CSV), so that an auditor can verify it offline.

Each exported entry carries its stored canonical body and hash, unchanged (its signatures and
the signers' public keys are in the body). A JSON export also carries the whole operator
registry as stored (seq, body, hash): whose key each public key was at the time of each entry,
and the registry's own signatures; and the quality log as stored (lot holds, devices: seq,
body, hash), so that docs/verify_export.py checks every signature with nothing but the export.
`--pseudonymize` writes a chain of its own instead (pseudonymize.py): the patient reference a
keyed pseudonym, no signatures, every hash recomputed, no registry, no quality log and no
checkpoints (their digests come from the original hashes), marked as such in its header
(`bmac-export-pseudonymized/1`) and on every entry; nothing in it is derivable from a patient
reference. CSV cells are written so that no spreadsheet reads them as formulas.
"""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any

from ..errors import InvalidData, NotFound
from ..fhir import bundle_for_case, merge
from ..pseudonymize import FORMAT as PSEUDONYMIZED_FORMAT
from ..pseudonymize import REWRITTEN, pseudonym, rewrite_case
from ..record import Entry
from ..text_policy import for_csv
from ..timeutil import iso

if TYPE_CHECKING:
    from ..store.database import Database
    from ..store.unit_of_work import UnitOfWork

Progress = Callable[[int], None]

FORMAT = "bmac-export/2"
MIN_KEY_CHARS = 16
CSV_COLUMNS = (
    "case_id",
    "seq",
    "at",
    "action",
    "from_state",
    "to_state",
    "operator",
    "role",
    "reason",
    "corrects",
    "prev_hash",
    "hash",
    "pseudonymized",
    "minutes_late",
    "late_reason",
    "body",
)


__all__ = ["pseudonym"]


def check_key(key: str | None) -> str:
    """The pseudonymisation key, refused when missing or short enough to guess."""
    if not key or len(key) < MIN_KEY_CHARS:
        raise InvalidData(
            f"--pseudonymize needs a key of at least {MIN_KEY_CHARS} characters: give --key or "
            "set BMAC_PSEUDONYM_KEY (keep it: the same key gives the same pseudonyms)"
        )
    return key


def check_case(uow: UnitOfWork, case_id: int | None) -> None:
    """Refuse an unknown case before anything is written."""
    if case_id is not None and uow.repo.case_version(case_id) is None:
        raise NotFound(f"no case {case_id}: see `bmac case list`")


def entry_count(case_id: int | None, db: Database) -> int:
    """How many entries the record (or one case) holds: the length of a progress bar."""
    with db.read() as uow:
        check_case(uow, case_id)
        return uow.repo.entry_count(case_id)


def entries(
    uow: UnitOfWork, case_id: int | None, key: str | None, progress: Progress | None = None
) -> Iterator[dict[str, Any]]:
    """Every entry (of one case, or all), oldest first per case, as exported; with `key`, each
    case's entries rewritten as a pseudonymised chain of their own."""
    rows = uow.repo.entry_rows(case_id)
    if key is None:
        for row_case, seq, body_text, entry_hash in rows:
            if progress is not None:
                progress(1)
            yield {"case_id": row_case, "seq": seq, "hash": entry_hash, "body": body_text}
        return
    for _, of_case in itertools.groupby(rows, key=lambda row: row[0]):
        for rewritten in rewrite_case((row[2] for row in of_case), key):
            if progress is not None:
                progress(1)
            yield {
                "case_id": rewritten.case_id,
                "seq": rewritten.seq,
                "hash": rewritten.hash,
                "body": rewritten.body,
                "pseudonymized": list(REWRITTEN),
            }


def write_json(
    out: IO[str],
    db: Database,
    case_id: int | None,
    key: str | None,
    now: datetime,
    progress: Progress | None = None,
) -> int:
    """Stream the JSON export to `out`: the header, the operator registry and the quality log
    (every row; not in a pseudonymised export), the entries, and (whole record) the checkpoints
    with their signed bodies; returns how many entries it holds."""
    with db.read() as uow:
        check_case(uow, case_id)
        header = {
            "format": FORMAT if key is None else PSEUDONYMIZED_FORMAT,
            "exported_at": iso(now),
            "case": case_id,
            "pseudonymized": key is not None,
        }
        out.write(json.dumps(header, ensure_ascii=False)[:-1])
        if key is None:
            out.write(',\n"registry": [\n')
            for index, (seq, body_text, entry_hash) in enumerate(uow.repo.registry_rows()):
                row = {"seq": seq, "hash": entry_hash, "body": body_text}
                out.write((",\n" if index else "") + json.dumps(row, ensure_ascii=False))
            out.write("\n]")
            # The quality log (lot holds, devices), its own signed chain, as stored: whole, as
            # the registry, since every case entry names how many of its acts were in force.
            out.write(',\n"quality": [\n')
            for index, (seq, _, _, body_text, act_hash) in enumerate(uow.repo.quality_rows()):
                row = {"seq": seq, "hash": act_hash, "body": body_text}
                out.write((",\n" if index else "") + json.dumps(row, ensure_ascii=False))
            out.write("\n]")
        out.write(',\n"entries": [\n')
        count = 0
        for item in entries(uow, case_id, key, progress):
            out.write((",\n" if count else "") + json.dumps(item, ensure_ascii=False))
            count += 1
        # Refused attempts (refusal.py): each case's chain, as stored.
        refused = [
            {"case_id": c, "seq": n, "hash": h, "body": b}
            for c, n, b, h in uow.repo.refusal_rows(case_id)
        ]
        out.write('\n],\n"refusals": ' + json.dumps(refused, ensure_ascii=False))
        marks = uow.repo.checkpoints() if case_id is None and key is None else []
        out.write(',\n"checkpoints": ' + json.dumps(marks, ensure_ascii=False) + "\n}\n")
    return count


def write_csv(
    out: IO[str],
    db: Database,
    case_id: int | None,
    key: str | None,
    progress: Progress | None = None,
) -> int:
    """Stream the CSV export to `out`, one row per entry; returns how many rows."""
    with db.read() as uow:
        check_case(uow, case_id)
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        count = 0
        for item in entries(uow, case_id, key, progress):
            body = json.loads(item["body"])
            writer.writerow(
                for_csv(cell)
                for cell in [
                    item["case_id"],
                    item["seq"],
                    body["at"],
                    body["action"],
                    body["from_state"] or "",
                    body["to_state"],
                    body["signer"]["id"],
                    body["signer"]["role"],
                    body.get("reason") or "",
                    body.get("corrects") or "",
                    body["prev_hash"],
                    item["hash"],
                    ";".join(item.get("pseudonymized", [])),
                    body.get("minutes_late") or "",
                    body.get("late_reason") or "",
                    item["body"],
                ]
            )
            count += 1
        for row_case, seq, body_text, found in uow.repo.refusal_rows(case_id):
            writer.writerow(_refusal_cells(row_case, seq, body_text, found))
    return count


def _refusal_cells(case_id: int, seq: int, body_text: str, found: str) -> list[Any]:
    """A refused attempt as a CSV row: its action is `refused:` and the step; `seq` is
    `R` and its number in the case's refusals log; the reason is the rule's message."""
    body = json.loads(body_text)
    signer = body["signer"]
    return [case_id, f"R{seq}", body["at"], f"refused:{body['action']}", body["state"],
            body["state"], signer["id"], signer["role"], f"{body['rule']}: {body['message']}",
            "", body["prev_hash"], found, "", "", "", body_text]  # fmt: skip


def write_fhir(
    out: IO[str], db: Database, case_id: int | None, key: str | None, now: datetime
) -> int:
    """Write a FHIR R5 Bundle of one case, or of every case; returns how many cases."""
    with db.read() as uow:
        check_case(uow, case_id)
        ids = [case_id] if case_id is not None else uow.repo.case_ids()
    bundles = [case_bundle(cid, db, key) for cid in ids]
    bundle = bundles[0] if case_id is not None else merge(bundles, iso(now))
    bundle["entry"] += audit_events(db, case_id, key)
    out.write(json.dumps(bundle, indent=2, ensure_ascii=False) + "\n")
    return len(bundles)


def audit_events(db: Database, case_id: int | None, key: str | None) -> list[dict[str, Any]]:
    """The access log's reads (of `case_id`, or all) as Bundle entries of AuditEvents."""
    from ..access import Access
    from ..fhir_access import audit_event

    with db.read() as uow:
        rows = uow.repo.access_rows()
    found = []
    for row in rows:
        entry = Access.from_body(row.body)
        if case_id is not None and case_id not in entry.cases:
            continue
        if key is not None:
            entry = replace(entry, patients=tuple(pseudonym(key, p) for p in entry.patients))
        event = audit_event(entry, row.hash)
        found.append({"fullUrl": f"urn:uuid:{event['id']}", "resource": event})
    return found


def case_bundle(case_id: int, db: Database, key: str | None = None) -> dict[str, Any]:
    """The FHIR bundle of one case (NotFound if there is no such case); with `key`, the
    patient reference is its keyed pseudonym (the open entry's data, which holds the reference
    too, is never copied into the bundle)."""
    with db.read() as uow:
        found = uow.repo.get_case(case_id)
        if found is None:
            raise NotFound(f"no case {case_id}: see `bmac case list`")
        rows = uow.repo.entries(case_id)
    case = found[0]
    if key is None:
        return bundle_for_case(case, [e for e, _ in rows], [h for _, h in rows])
    # The pseudonymised chain's entries and hashes: no signature, no original hash.
    chain = list(rewrite_case((e.body() for e, _ in rows), key))
    case = replace(case, patient_ref=pseudonym(key, case.patient_ref))
    return bundle_for_case(case, [Entry.from_body(r.body) for r in chain], [r.hash for r in chain])
