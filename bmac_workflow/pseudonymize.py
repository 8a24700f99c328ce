"""A pseudonymised copy of a case's log: nothing in it is derivable from the patient reference.

An entry's stored hash, its signatures and every later entry's `prev_hash` are functions of the
opening entry's body, which holds the patient reference: kept beside a rewritten body, they let
anyone try P-0000 ... P-9999 and find the one that gives the same hash or a valid signature. So
a pseudonymised export rewrites the whole chain (docs/record-format.md, "Pseudonymised exports"):
the patient reference becomes its keyed pseudonym (HMAC-SHA-256 under a key that is never
written), the signatures are left out, and each entry links to, and is hashed as, the rewritten
entry before it. The result verifies as a chain of its own (docs/verify_export.py checks it as a
pseudonymised export), not as the record: the record is verified on the database or on a plain
export.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from .record import GENESIS, canonical, digest

FORMAT = "bmac-export-pseudonymized/1"
# What an exported entry marked pseudonymised says was rewritten in it.
REWRITTEN = ("data.patient_ref", "prev_hash", "signatures")


def pseudonym(key: str, patient_ref: str) -> str:
    """The keyed pseudonym of a patient reference: same patient, same pseudonym, per key."""
    mac = hmac.new(key.encode("utf-8"), patient_ref.encode("utf-8"), hashlib.sha256)
    return "psn-" + mac.hexdigest()[:20]


class Rewritten(NamedTuple):
    """One entry of the rewritten chain: its case, seq, new canonical body and its hash."""

    case_id: int
    seq: int
    body: str
    hash: str


def rewrite_case(bodies: Iterable[str], key: str) -> Iterator[Rewritten]:
    """The stored bodies of one case's entries, oldest first, as a chain of their own: the
    patient reference pseudonymised, no signatures, every hash and link recomputed."""
    previous = GENESIS
    for text in bodies:
        body = json.loads(text)
        data = body.get("data")
        if isinstance(data, dict) and "patient_ref" in data:
            data["patient_ref"] = pseudonym(key, str(data["patient_ref"]))
        body.pop("signatures", None)
        body["prev_hash"] = previous
        new_text = canonical(body)
        previous = digest(new_text)
        yield Rewritten(int(body["case_id"]), int(body["seq"]), new_text, previous)
