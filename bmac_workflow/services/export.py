"""Export the log with its hashes (JSON or CSV), so that an auditor can verify it offline.

Each exported entry carries its stored canonical body and hash, unchanged. `--pseudonymize`
replaces the patient reference in the opening entries with a keyed hash (HMAC-SHA-256, the key
never written to the export); those bodies then no longer give their hash, so they are marked,
and a verifier checks everything else and takes their hashes as given (the next entry links to it).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import IO, Any

from sqlalchemy import func, select

from ..errors import InvalidData, NotFound
from ..record import canonical
from ..store.models import CaseRow, CheckpointRow, EntryRow
from ..store.unit_of_work import UnitOfWork
from ..timeutil import iso

Progress = Callable[[int], None]

FORMAT = "bmac-export/1"
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
    "body",
)


def pseudonym(key: str, patient_ref: str) -> str:
    """The keyed pseudonym of a patient reference: same patient, same pseudonym, per key."""
    mac = hmac.new(key.encode("utf-8"), patient_ref.encode("utf-8"), hashlib.sha256)
    return "psn-" + mac.hexdigest()[:20]


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


def entry_count(uow: UnitOfWork, case_id: int | None) -> int:
    """How many entries the record (or one case) holds: the length of a progress bar."""
    query = select(func.count()).select_from(EntryRow)
    if case_id is not None:
        query = query.where(EntryRow.case_id == case_id)
    return int(uow.session.execute(query).scalar_one())


def entries(
    uow: UnitOfWork, case_id: int | None, key: str | None, progress: Progress | None = None
) -> Iterator[dict[str, Any]]:
    """Every entry (of one case, or all), oldest first per case, as exported."""
    query = select(EntryRow.case_id, EntryRow.seq, EntryRow.body, EntryRow.hash).order_by(
        EntryRow.case_id, EntryRow.seq
    )
    if case_id is not None:
        query = query.where(EntryRow.case_id == case_id)
    for row in uow.session.execute(query.execution_options(yield_per=2000)):
        item: dict[str, Any] = {
            "case_id": row.case_id,
            "seq": row.seq,
            "hash": row.hash,
            "body": row.body,
        }
        if key is not None:
            body = json.loads(row.body)
            if "patient_ref" in body.get("data", {}):
                body["data"]["patient_ref"] = pseudonym(key, body["data"]["patient_ref"])
                item["body"] = canonical(body)
                item["pseudonymized"] = ["data.patient_ref"]
        if progress is not None:
            progress(1)
        yield item


def checkpoints(uow: UnitOfWork) -> list[dict[str, Any]]:
    """The stored checkpoints, so that a full export can be checked against them."""
    rows = uow.session.execute(select(CheckpointRow).order_by(CheckpointRow.id)).scalars()
    return [
        {
            "taken_at": r.taken_at,
            "operator": r.operator_id,
            "digest": r.digest,
            "heads": json.loads(r.heads),
        }
        for r in rows
    ]


def write_json(
    out: IO[str],
    uow: UnitOfWork,
    case_id: int | None,
    key: str | None,
    now: datetime,
    progress: Progress | None = None,
) -> int:
    """Stream the JSON export to `out`; returns how many entries it holds."""
    with uow:
        check_case(uow, case_id)
        header = {
            "format": FORMAT,
            "exported_at": iso(now),
            "case": case_id,
            "pseudonymized": key is not None,
        }
        out.write(json.dumps(header, ensure_ascii=False)[:-1] + ',\n"entries": [\n')
        count = 0
        for item in entries(uow, case_id, key, progress):
            out.write((",\n" if count else "") + json.dumps(item, ensure_ascii=False))
            count += 1
        marks = checkpoints(uow) if case_id is None else []
        out.write('\n],\n"checkpoints": ' + json.dumps(marks, ensure_ascii=False) + "\n}\n")
    return count


def write_csv(
    out: IO[str],
    uow: UnitOfWork,
    case_id: int | None,
    key: str | None,
    progress: Progress | None = None,
) -> int:
    """Stream the CSV export to `out`, one row per entry; returns how many rows."""
    with uow:
        check_case(uow, case_id)
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        count = 0
        for item in entries(uow, case_id, key, progress):
            body = json.loads(item["body"])
            writer.writerow(
                [
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
                    item["body"],
                ]
            )
            count += 1
    return count


def write_fhir(
    out: IO[str],
    app_uow: Callable[[], UnitOfWork],
    case_id: int | None,
    key: str | None,
    now: datetime,
) -> int:
    """Write a FHIR R5 Bundle of one case, or of every case; returns how many cases."""
    from ..fhir import export_case, merge

    if case_id is not None:
        ids = [case_id]
    else:
        with app_uow() as uow:
            ids = list(
                uow.session.execute(
                    select(CaseRow.id).where(CaseRow.version > 0).order_by(CaseRow.id)
                ).scalars()
            )
    bundles = []
    for cid in ids:
        patient_ref = None
        if key is not None:
            with app_uow() as uow:
                found = uow.repo.get_case(cid)
                patient_ref = pseudonym(key, found[0].patient_ref) if found else None
        bundles.append(export_case(cid, app_uow(), patient_ref=patient_ref))
    bundle = bundles[0] if case_id is not None else merge(bundles, iso(now))
    out.write(json.dumps(bundle, indent=2, ensure_ascii=False) + "\n")
    return len(bundles)
