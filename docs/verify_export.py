#!/usr/bin/env python3
"""Verify a bmac audit export offline, with nothing but the Python standard library.

Usage:
    python3 verify_export.py record.json [--against DIGEST]
    python3 verify_export.py record.csv

It checks, for every case in the export:
  1. each entry's `body` is canonical JSON (keys sorted, separators "," and ":", UTF-8, no
     escapes of non-ASCII characters) and SHA-256 of its UTF-8 bytes equals its `hash`;
  2. the entries of a case are numbered 1, 2, 3, ... with no gap or repeat, and each body says
     the same case and seq as its row;
  3. each body's `prev_hash` is the hash of the entry before it ("0" * 64 for the first);
  4. for a JSON export of the whole record: every checkpoint stored with it recomputes from the
     exported entries: SHA-256 of the canonical JSON list [[case, count, head hash], ...] sorted
     by case, where head hash is the hash of the case's entry number `count`;
  5. with --against DIGEST (the digest you wrote down): that digest is one of those checkpoints.
An entry marked `pseudonymized` had its patient reference replaced by a keyed hash: its body
no longer gives its hash, so check 1 is skipped for it (its hash is taken as given, and the
next entry's prev_hash still links to it); everything else is checked.

Prints every problem as `case, seq, what` and exits 1 if there is any, 0 otherwise.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import sys

GENESIS = "0" * 64


def canonical(value: object) -> str:
    """The canonical JSON text of a value."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load(path: str) -> tuple[list[dict], list[dict]]:
    """The entries and checkpoints of a JSON or CSV export."""
    if path.endswith(".csv"):
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        entries = [
            {
                "case_id": int(r["case_id"]),
                "seq": int(r["seq"]),
                "hash": r["hash"],
                "body": r["body"],
                "pseudonymized": [p for p in r["pseudonymized"].split(";") if p],
            }
            for r in rows
        ]
        return entries, []
    with open(path, encoding="utf-8") as handle:
        document = json.load(handle)
    if document.get("format") != "bmac-export/1":
        raise SystemExit(f"{path}: not a bmac export (format {document.get('format')!r})")
    return document["entries"], document.get("checkpoints", [])


def check(entries: list[dict], checkpoints: list[dict], against: str | None) -> list[str]:
    problems: list[str] = []
    cases: dict[int, list[dict]] = {}
    for item in entries:
        cases.setdefault(int(item["case_id"]), []).append(item)
    hashes: dict[tuple[int, int], str] = {}
    for case_id, items in sorted(cases.items()):
        items.sort(key=lambda i: int(i["seq"]))
        previous, expected = GENESIS, 1
        for item in items:
            seq, body, stated = int(item["seq"]), item["body"], item["hash"]
            if seq != expected:
                problems.append(
                    f"case {case_id}, seq {seq}, expected seq {expected} (gap or repeat)"
                )
                expected = seq
            try:
                entry = json.loads(body)
            except ValueError:
                problems.append(f"case {case_id}, seq {seq}, body is not JSON")
                previous, expected = stated, expected + 1
                continue
            if not item.get("pseudonymized"):
                if canonical(entry) != body:
                    problems.append(f"case {case_id}, seq {seq}, body is not in canonical form")
                if sha256(body) != stated:
                    problems.append(f"case {case_id}, seq {seq}, hash does not match the body")
            if entry.get("case_id") != case_id or entry.get("seq") != seq:
                problems.append(
                    f"case {case_id}, seq {seq}, body says case "
                    f"{entry.get('case_id')} seq {entry.get('seq')}"
                )
            if entry.get("prev_hash") != previous:
                problems.append(f"case {case_id}, seq {seq}, prev_hash does not link")
            hashes[(case_id, seq)] = stated
            previous, expected = stated, expected + 1
    digests = []
    for mark in checkpoints:
        listing = []
        for case, count in sorted(mark["heads"].items(), key=lambda kv: int(kv[0])):
            head = hashes.get((int(case), int(count)))
            if head is None:
                problems.append(
                    f"case {case}, seq {count}, covered by checkpoint "
                    f"{mark['digest']} but not in the export"
                )
            listing.append([int(case), int(count), head])
        if sha256(canonical(listing)) != mark["digest"]:
            problems.append(
                f"checkpoint, -, {mark['digest']} of {mark['taken_at']} does not "
                "recompute from the exported entries"
            )
        digests.append(mark["digest"])
    if against is not None:
        wanted = re.sub(r"[\s:-]", "", against).lower()
        if wanted not in digests:
            problems.append(f"checkpoint, -, {wanted} is not among the export's checkpoints")
    return problems


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    against = None
    if "--against" in argv:
        at = argv.index("--against")
        against = argv[at + 1]
        argv = argv[:at] + argv[at + 2 :]
    entries, checkpoints = load(argv[0])
    problems = check(entries, checkpoints, against)
    for problem in problems:
        print(problem)
    skipped = sum(1 for e in entries if e.get("pseudonymized"))
    if problems:
        print(
            f"NOT VERIFIED: {len(problems)} problem(s) in {len(entries)} entries", file=sys.stderr
        )
        return 1
    note = f" ({skipped} pseudonymized bodies taken on their stated hash)" if skipped else ""
    print(
        f"verified: {len(entries)} entries in {len({e['case_id'] for e in entries})} case(s), "
        f"{len(checkpoints)} checkpoint(s){note}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
