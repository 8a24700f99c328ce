"""The JSON the record stores: its canonical form (what is signed and hashed), and reading and
writing it fast (`audit verify` parses every entry of the record; every step writes some)."""

from __future__ import annotations

import json
from typing import Any

import orjson


def read_json(text: str) -> Any:
    """Parse stored JSON: with orjson, three times faster than json on the bodies the audit
    reads, every entry of the record; what orjson refuses (JSON's extensions such as NaN) json
    reads, or refuses, as it always did. One difference remains: an integer beyond 64 bits
    reads as a float. No entry holds one (its numbers are seqs, positions and bounded
    measurements), and one in a body changes neither its hash nor its signed content, which
    are taken from the text."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def write_json(value: Any) -> str:
    """Compact JSON text of a cache the record does not hash (a case row's snapshot), with
    orjson: written at every step. What orjson refuses (an integer beyond 64 bits) json
    writes. Never for an entry's body: its canonical form is `record.canonical`'s."""
    try:
        return orjson.dumps(value).decode("utf-8")
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def canonical(value: Any) -> str:
    """The canonical JSON text of a value (the bytes that are hashed are its UTF-8): sorted
    keys, no spaces, UTF-8 as it is, no NaN."""
    return _CANONICAL(value)


# Made once: `json.dumps` with these arguments makes a new encoder at every call.
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode
