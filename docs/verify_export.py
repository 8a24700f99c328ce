#!/usr/bin/env python3
"""Verify a bmac audit export offline: the standard library only (PyNaCl, when installed, checks
the signatures faster; the result is the same).

Usage:
    python3 verify_export.py record.json [--against DIGEST] [--root FINGERPRINT] [--pure]
    python3 verify_export.py record.csv [--pure]

It checks, for every case in the export:
  1. each entry's `body` is canonical JSON (keys sorted, separators "," and ":", UTF-8, no
     escapes of non-ASCII characters) and SHA-256 of its UTF-8 bytes equals its `hash`;
  2. the entries of a case are numbered 1, 2, 3, ... with no gap or repeat, and each body says
     the same case and seq as its row;
  3. each body's `prev_hash` is the hash of the entry before it ("0" * 64 for the first);
  4. each entry's signatures (Ed25519, base64, over b"bmac-entry/1\\n" + the body's canonical
     JSON without "signatures"): the signer's, and the verifier's if there is one, each against
     the public key the entry names for them;
and, for a JSON export (it carries the operator registry):
  5. the registry: its hashes and links as above, each act signed (b"bmac-registry/1\\n" + its
     canonical JSON without "signatures") by someone who could do it then (an active admin with
     their own key; the clinic's first admin signs their own addition; an operator their own
     first key or PIN change), and the clinic's root key (its fingerprint is printed: compare it
     with the one written down when the first admin was added, or give it as --root);
  6. that each key an entry names is the one the registry gave that operator at the entry's
     `registry` position, and that they were active and held the role they signed as;
  7. entries signed before keys (no signatures: a database older than keys): they come first in
     their case, and, for an export of the whole record, they are those the migration sealed
     in the registry;
  8. for an export of the whole record: every checkpoint. A signed one: its body gives its digest,
     an active auditor of the registry at the registry position it covers signed it with their
     own key (b"bmac-checkpoint/1\\n" + body), and the heads and the registry head it covers are
     in the export. One taken before keys: SHA-256 of the canonical JSON list
     [[case, count, head hash], ...] sorted by case recomputes from the exported entries;
  9. with --against DIGEST (the digest you wrote down): that digest is one of those checkpoints
     (and no case it does not cover has an id up to the last case it covers);
 10. the quality log (lot holds and releases, devices added, calibrated and checked), when the
     export carries it: its hashes and links as above, each act signed (b"bmac-quality/1\n" +
     its canonical JSON without "signatures") by an operator who was active with that key at
     the registry position the act names, in a role that may make it (a lot: qa or surgeon; a
     device: admin or qa); and that no entry was signed with more acts in force than it holds.
A pseudonymized export (format `bmac-export-pseudonymized/1`, or a CSV export whose rows are
marked `pseudonymized`) is a chain of its own: the patient reference is a keyed pseudonym, the
signatures are left out and every hash is recomputed, so that nothing in it derives from a
patient reference. It is checked as such: checks 1-3 on every entry, every entry marked, no
entry signed, every patient reference a pseudonym (`psn-...`); it proves the export is whole
and unaltered since it was written, not who signed the record (verify the record itself for
that). An entry marked `pseudonymized` inside a plain export is an error. A CSV export carries
no registry: its signatures are checked against the keys the entries name, but not whose keys
those were.

--pure checks the signatures with this file's own Ed25519 (RFC 8032, section 5.1.7) even when
PyNaCl is installed. Prints every problem as `case, seq, what` and exits 1 if there is any, 0
otherwise (2 for a wrong command line).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import re
import sys
from bisect import bisect_right
from collections.abc import Callable, Iterator
from typing import Any

GENESIS = "0" * 64
PSEUDONYMIZED = "bmac-export-pseudonymized/1"
FORMATS = ("bmac-export/1", "bmac-export/2", PSEUDONYMIZED)
ENTRY_PREFIX = b"bmac-entry/1\n"
REGISTRY_PREFIX = b"bmac-registry/1\n"
CHECKPOINT_PREFIX = b"bmac-checkpoint/1\n"
QUALITY_PREFIX = b"bmac-quality/1\n"
CHECKPOINT_FORMAT = "bmac-checkpoint/1"
ROLES = ("nurse", "surgeon", "auditor", "admin", "qa")
# Registry acts (bmac_workflow/registry.py): those an operator signs about themselves, and those
# the migration of a database older than keys wrote unsigned.
SELF_SIGNED = ("pin_changed", "key")
UNSIGNED = ("migrated", "protocol_migrated", "legacy_seal")
# Quality log acts (bmac_workflow/quality.py): what each is about, and the roles that may make it
# (the role matrix, `bmac operator roles`: hold_lot and manage_devices).
QUALITY_ACTS = {
    "hold": ("lot", ("surgeon", "qa")),
    "release": ("lot", ("surgeon", "qa")),
    "device_add": ("device", ("admin", "qa")),
    "calibrate": ("device", ("admin", "qa")),
    "qc": ("device", ("admin", "qa")),
}

Verify = Callable[[bytes, bytes, bytes], bool]


# --- Ed25519 signature verification, pure Python (RFC 8032, section 5.1.7) ---------------------
# Points in extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z, x*y = T/Z, on -x^2 + y^2 =
# 1 + d x^2 y^2 over GF(2^255 - 19); additions take the second point "cached" as
# (Y+X, Y-X, 2Z, 2dT) (the complete formulas of Hisil et al. 2008, add-2008-hwcd-3 and
# dbl-2008-hwcd). [S]B uses a table of B's multiples (8-bit signed windows), [k]A a 4-bit window,
# or a table of A's own once the key has signed a few times (an export's keys sign many entries).
# As RFC 8032 allows, the check is [S]B - [k]A == R, compared as encodings (so R must be the
# canonical encoding of a point); like libsodium (PyNaCl), keys and R of small order, and
# non-canonical keys, are refused, so that both ways give the same answer.

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, -1, _P) % _P
_D2 = 2 * _D % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
_IDENTITY = (0, 1, 1, 0)
_BASE_W, _KEY_W, _TABLE_AFTER = 8, 5, 4

Point = tuple[int, int, int, int]


def _add(p: Point, q: Point) -> Point:
    """p + q; q cached."""
    x1, y1, z1, t1 = p
    ypx, ymx, z2, t2 = q
    a = (y1 - x1) * ymx % _P
    b = (y1 + x1) * ypx % _P
    c = t1 * t2 % _P
    d = z1 * z2 % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return e * f % _P, g * h % _P, f * g % _P, e * h % _P


def _double(p: Point, times: int = 1) -> Point:
    """[2^times]p."""
    x, y, z, _ = p
    e = h = 0
    for _ in range(times):
        a, b = x * x % _P, y * y % _P
        c = 2 * z * z % _P
        e = (x + y) * (x + y) - a - b
        g = b - a
        f, h = g - c, -a - b
        x, y, z = e * f % _P, g * h % _P, f * g % _P
    return x, y, z, e * h % _P


def _cached(p: Point) -> Point:
    x, y, z, t = p
    return (y + x) % _P, (y - x) % _P, 2 * z % _P, t * _D2 % _P


def _row(point: Point, w: int) -> tuple[list[Point], Point]:
    """[j]point cached for j in -2^(w-1)..2^(w-1), at index 2^(w-1) + j; and [2^(w-1)]point."""
    half = 1 << (w - 1)
    row: list[Point] = [_IDENTITY] * (2 * half + 1)
    step, multiple = _cached(point), point
    for j in range(1, half + 1):
        if j > 1:
            multiple = _add(multiple, step)
        ypx, ymx, z2, t2 = _cached(multiple)
        row[half + j], row[half - j] = (ypx, ymx, z2, t2), (ymx, ypx, z2, -t2 % _P)
    return row, multiple


def _table(point: Point, w: int) -> list[list[Point]]:
    """A row for each w-bit digit of a scalar: row i holds the multiples of [2^(w*i)]point."""
    rows = []
    for _ in range((253 + w - 1) // w):
        row, top = _row(point, w)
        rows.append(row)
        point = _double(top)
    return rows


def _digits(n: int, w: int) -> list[int]:
    """n (< 2^253) in signed base 2^w, least significant first: each in -2^(w-1)+1..2^(w-1)."""
    digits, half, mask = [], 1 << (w - 1), (1 << w) - 1
    for _ in range((253 + w - 1) // w):
        d = n & mask
        n >>= w
        if d > half:
            d, n = d - (1 << w), n + 1
        digits.append(d)
    return digits


def _decode(encoded: bytes) -> Point | None:
    """The point of a 32-byte encoding (RFC 8032, section 5.1.3), or None when it is none."""
    if len(encoded) != 32:
        return None
    y = int.from_bytes(encoded, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    if y >= _P:
        return None  # not canonical
    u, v = (y * y - 1) % _P, (_D * y * y + 1) % _P
    v3 = v * v * v % _P
    x = u * v3 * pow(u * v3 * v3 * v % _P, (_P - 5) // 8, _P) % _P
    vxx = v * x * x % _P
    if vxx != u:
        if vxx != -u % _P:
            return None  # no square root: not on the curve
        x = x * _SQRT_M1 % _P
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = _P - x
    return x, y, 1, x * y % _P


def _small_order(p: Point) -> bool:
    x, y, z, _ = _double(p, 3)
    return x % _P == 0 and (y - z) % _P == 0


_BASE: list[list[Point]] = []
# Per public key: [times seen, its point (None: no valid key), its table once built].
_KEYS: dict[bytes, list[Any]] = {}


def _key(public: bytes) -> list[Any]:
    found = _KEYS.get(public)
    if found is None:
        if len(_KEYS) >= 256:
            _KEYS.clear()
        point = _decode(public)
        found = _KEYS[public] = [0, None if point is None or _small_order(point) else point, None]
    found[0] += 1
    if found[2] is None and found[1] is not None and found[0] >= _TABLE_AFTER:
        found[2] = _table(found[1], _KEY_W)
    return found


def verify_pure(public: bytes, message: bytes, signature: bytes) -> bool:
    """Whether `signature` is `message` signed by the Ed25519 key `public` (raw bytes)."""
    if len(public) != 32 or len(signature) != 64:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= _L:
        return False  # not canonical (malleable): refused
    found = _key(public)
    if found[1] is None:
        return False
    digest = hashlib.sha512(signature[:32] + public + message).digest()
    k = int.from_bytes(digest, "little") % _L
    acc = _IDENTITY  # -[k]A
    if found[2] is not None:
        half = 1 << (_KEY_W - 1)
        for row, d in zip(found[2], _digits(k, _KEY_W), strict=True):
            if d:
                acc = _add(acc, row[half - d])
    else:
        row, _ = _row(found[1], 4)
        for d in reversed(_digits(k, 4)):
            acc = _double(acc, 4)
            if d:
                acc = _add(acc, row[8 - d])
    if not _BASE:
        base = _decode((4 * pow(5, -1, _P) % _P).to_bytes(32, "little"))  # y = 4/5, x even
        assert base is not None
        _BASE.extend(_table(base, _BASE_W))
    half = 1 << (_BASE_W - 1)
    for row, d in zip(_BASE, _digits(s, _BASE_W), strict=True):  # + [S]B
        if d:
            acc = _add(acc, row[half + d])
    x, y, z, _ = acc
    inverse = pow(z, -1, _P)
    x, y = x * inverse % _P, y * inverse % _P
    if (y | (x & 1) << 255).to_bytes(32, "little") != signature[:32]:
        return False
    return not _small_order(acc)


def nacl_verifier() -> Verify | None:
    """PyNaCl's (libsodium's) Ed25519 check, or None when PyNaCl is not installed."""
    try:
        from nacl.exceptions import CryptoError
        from nacl.signing import VerifyKey
    except ImportError:
        return None

    def verify(public: bytes, message: bytes, signature: bytes) -> bool:
        try:
            VerifyKey(public).verify(message, signature)
        except (CryptoError, ValueError, TypeError):
            return False
        return True

    return verify


# --- The export ---------------------------------------------------------------------------------


def canonical(value: object) -> str:
    """The canonical JSON text of a value."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def unb64(text: object) -> bytes | None:
    if not isinstance(text, str):
        return None
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        return None


def fingerprint(public_key: str) -> str:
    """A key's printed name: the first 16 bytes of its SHA-256, in groups (as `bmac` prints)."""
    found = hashlib.sha256(unb64(public_key) or b"").hexdigest()[:32]
    return ":".join(found[i : i + 4] for i in range(0, 32, 4))


def signed_content(prefix: bytes, body: dict[str, Any]) -> bytes:
    """What a signature over `body` signs: the prefix and its canonical JSON without them."""
    return prefix + canonical({k: v for k, v in body.items() if k != "signatures"}).encode()


class Signatures:
    """The Ed25519 check in use, and how many signatures it checked."""

    def __init__(self, verify: Verify, name: str) -> None:
        self.verify, self.name, self.checked = verify, name, 0

    def holds(self, public_key: object, content: bytes, signature: object) -> bool:
        self.checked += 1
        public, raw = unb64(public_key), unb64(signature)
        return public is not None and raw is not None and self.verify(public, content, raw)


class Registry:
    """The operator registry replayed from its rows (as bmac_workflow/registry.py folds it)."""

    def __init__(self) -> None:
        self.length = 0
        self.hashes: dict[int, str] = {}
        self.root_key: str | None = None
        self.seal: dict[str, Any] | None = None
        # Per operator: the seq of each change, and who they were from then on.
        self.history: dict[str, list[tuple[int, dict[str, Any]]]] = {}

    def at(self, operator_id: str, seq: int | None = None) -> dict[str, Any] | None:
        """The operator as they stood once the registry held `seq` entries (default: now)."""
        changes = self.history.get(operator_id)
        if not changes:
            return None
        index = bisect_right([s for s, _ in changes], self.length if seq is None else seq) - 1
        return changes[index][1] if index >= 0 else None

    def apply(self, entry: dict[str, Any]) -> None:
        self.length = entry["seq"]
        action, subject, data = entry["action"], entry["subject"], entry["data"]
        current = self.at(subject)
        changed = None
        if action in ("add", "migrated"):
            changed = {
                "role": data["role"],
                "active": bool(data.get("active", True)),
                "key": data.get("public_key"),
            }
        elif current is not None and action == "role":
            changed = {**current, "role": data["role"]}
        elif current is not None and action in ("deactivate", "reactivate"):
            changed = {**current, "active": action == "reactivate"}
        elif current is not None and action in ("reset_pin", "key"):
            changed = {**current, "key": data["public_key"]}
        elif action == "legacy_seal":
            self.seal = {**data, "recorded_at": entry["recorded_at"]}
        if changed is not None:
            self.history.setdefault(subject, []).append((entry["seq"], changed))
            if self.root_key is None and changed["role"] == "admin" and changed["key"]:
                self.root_key = changed["key"]


def check_registry(
    rows: list[dict[str, Any]], signatures: Signatures
) -> tuple[Registry, list[str]]:
    """The registry folded from its rows, and every problem in them."""
    registry, problems = Registry(), []
    signed_yet = False
    for seq, entry, stated in _chained(rows, "registry", problems):
        try:
            why = _authority(registry, entry, signed_yet, signatures)
            if why:
                problems.append(f"registry, seq {seq}, {why}")
            signed_yet = signed_yet or entry["action"] not in UNSIGNED
            registry.apply(entry)
        except (ValueError, TypeError, KeyError, AttributeError):
            problems.append(f"registry, seq {seq}, body is not a registry entry")
        registry.hashes[seq] = stated
    return registry, problems


def _chained(
    rows: list[dict[str, Any]], log: str, problems: list[str]
) -> Iterator[tuple[int, Any, str]]:
    """Each row of a signed log (the registry, the quality log) as (seq, its parsed body,
    its stated hash), once its numbering, hash, canonical form and link to the row before are
    checked (what is wrong goes to `problems`, as `log, seq N, ...`). A body that is not JSON
    is given as None: the caller says what it is not."""
    expected, previous = 1, GENESIS
    for row in rows:
        seq, body, stated = int(row["seq"]), row["body"], row["hash"]
        if seq != expected:
            problems.append(f"{log}, seq {seq}, expected seq {expected} (gap or repeat)")
            expected = seq
        if sha256(body) != stated:
            problems.append(f"{log}, seq {seq}, hash does not match the body")
        try:
            parsed = json.loads(body)
            if canonical(parsed) != body:
                problems.append(f"{log}, seq {seq}, body is not in canonical form")
            if parsed.get("prev_hash") != previous or parsed.get("seq") != seq:
                problems.append(f"{log}, seq {seq}, prev_hash does not link")
        except (ValueError, TypeError, KeyError, AttributeError):
            parsed = None
        yield seq, parsed, stated
        previous, expected = stated, expected + 1


def _authority(
    registry: Registry, entry: dict[str, Any], signed_yet: bool, signatures: Signatures
) -> str | None:
    """Why the act may not stand (bmac_workflow/registry_checks.py), or None."""
    signer, action, subject = entry["signer"], entry["action"], entry["subject"]
    data = entry["data"]
    if action in UNSIGNED:
        return "an unsigned entry after the first signed one" if signed_yet else None
    if not signer or not signer.get("key") or not entry.get("signatures"):
        return f"{action} of {subject} is not signed"
    content = signed_content(REGISTRY_PREFIX, entry)
    if not signatures.holds(signer["key"], content, entry["signatures"].get("signer")):
        return f"{action} of {subject}: the signature of {signer['id']} does not verify"
    if action == "add" and registry.root_key is None:
        ok = (
            signer["id"] == subject
            and data.get("role") == "admin"
            and data.get("public_key") == signer["key"]
        )
        return None if ok else "the first operator must be an admin who signs their own addition"
    if action in SELF_SIGNED:
        holder = registry.at(subject)
        if holder is None or signer["id"] != subject or not holder["active"]:
            return f"{action} of {subject} is not signed by that active operator"
        if action == "key" and (
            holder["key"] is not None or data.get("public_key") != signer["key"]
        ):
            return f"key of {subject}: only an operator without a key takes one"
        if action == "pin_changed" and holder["key"] != signer["key"]:
            return f"pin_changed of {subject}: signed with a key that is not theirs"
        return None
    holder = registry.at(signer["id"])
    if holder is None or not holder["active"] or holder["role"] != "admin":
        return f"{action} of {subject} was signed by {signer['id']}, who is no active admin"
    if holder["key"] != signer["key"] or signer.get("role") != holder["role"]:
        return f"{action} of {subject}: {signer['id']} signed with a key or role not theirs"
    if action == "add" and (registry.at(subject) is not None or data.get("role") not in ROLES):
        return f"add of {subject}: an operator of that id exists, or the role is unknown"
    return None


def check_quality(
    rows: list[dict[str, Any]], registry: Registry, signatures: Signatures
) -> list[str]:
    """Every problem in the quality log (lot holds, devices): its hashes and links, and each act
    signed by an active operator, with the key the registry gave them at the position the act
    names, in a role that may make it (bmac_workflow/quality_checks.py)."""
    problems: list[str] = []
    for seq, act, _ in _chained(rows, "quality log", problems):
        try:
            why = _quality_authority(registry, act, signatures)
            if why:
                problems.append(f"quality log, seq {seq}, {why}")
        except (ValueError, TypeError, KeyError, AttributeError):
            problems.append(f"quality log, seq {seq}, body is not a quality act")
    return problems


def _quality_authority(
    registry: Registry, act: dict[str, Any], signatures: Signatures
) -> str | None:
    """Why the act may not stand, or None."""
    action, signer = act["action"], act["signer"]
    what = f"{action} of {act['subject']}"
    if QUALITY_ACTS.get(action, ("",))[0] != act["kind"]:
        return f"{what}: no such act"
    if not signer or not signer.get("key") or not act.get("signatures"):
        return f"{what} is not signed"
    content = signed_content(QUALITY_PREFIX, act)
    if not signatures.holds(signer["key"], content, act["signatures"].get("signer")):
        return f"{what}: the signature of {signer['id']} does not verify"
    position = act.get("registry")
    if not isinstance(position, int) or not 0 < position <= registry.length:
        return f"{what} names no registry position it could have been signed at"
    holder = registry.at(signer["id"], position)
    if holder is None or not holder["active"] or holder["key"] != signer["key"]:
        return f"{what} was signed by {signer['id']} with a key that was not theirs"
    if holder["role"] != signer.get("role") or holder["role"] not in QUALITY_ACTS[action][1]:
        return f"{what} was signed by {signer['id']}, a {holder['role']}, who may not do it"
    return None


class Result:
    """What the check of the entries found besides problems."""

    def __init__(self) -> None:
        self.quality_named = 0  # the most quality log acts an entry says were in force
        self.before_keys = 0  # entries signed before keys
        self.pseudonymized = 0  # entries of a pseudonymized export (a chain of its own)
        self.pseudonymized_export = False
        # Per case: the seq and hash of its last entry signed before keys (the migration's seal).
        self.legacy: dict[int, tuple[int, str]] = {}


def check_entries(
    entries: list[dict[str, Any]],
    registry: Registry | None,
    signatures: Signatures,
    result: Result,
    pseudonymized_export: bool = False,
) -> tuple[list[str], dict[tuple[int, int], str]]:
    """Every problem in the entries, and each entry's stated hash by (case, seq)."""
    problems: list[str] = []
    cases: dict[int, list[dict[str, Any]]] = {}
    for item in entries:
        cases.setdefault(int(item["case_id"]), []).append(item)
    hashes: dict[tuple[int, int], str] = {}
    for case_id, items in sorted(cases.items()):
        items.sort(key=lambda i: int(i["seq"]))
        previous, expected, position, signed_yet = GENESIS, 1, 0, False
        for item in items:
            seq, body, stated = int(item["seq"]), item["body"], item["hash"]
            where = f"case {case_id}, seq {seq}"
            if seq != expected:
                problems.append(f"{where}, expected seq {expected} (gap or repeat)")
                expected = seq
            hashes[(case_id, seq)] = stated
            try:
                entry = json.loads(body)
                if not isinstance(entry, dict):
                    raise TypeError("not an object")
            except (ValueError, TypeError):
                problems.append(f"{where}, body is not JSON")
                previous, expected = stated, expected + 1
                continue
            if canonical(entry) != body:
                problems.append(f"{where}, body is not in canonical form")
            if sha256(body) != stated:
                problems.append(f"{where}, hash does not match the body")
            if entry.get("case_id") != case_id or entry.get("seq") != seq:
                problems.append(
                    f"{where}, body says case {entry.get('case_id')} seq {entry.get('seq')}"
                )
            if entry.get("prev_hash") != previous:
                problems.append(f"{where}, prev_hash does not link")
            named = entry.get("quality")
            if isinstance(named, int) and named > result.quality_named:
                result.quality_named = named
            marked = bool(item.get("pseudonymized"))
            if marked or pseudonymized_export:
                problems += [f"{where}, {why}" for why in _pseudonymized(entry, marked, result)]
            elif entry.get("signatures") is None:
                result.before_keys += 1
                result.legacy[case_id] = (seq, stated)
                if signed_yet:
                    problems.append(f"{where}, entry is not signed (after a signed one)")
                elif registry is not None and registry.seal is None:
                    problems.append(
                        f"{where}, entry is not signed (and the registry holds no seal of "
                        "entries signed before keys)"
                    )
            else:
                signed_yet = True
                try:
                    whys, position = _entry_signatures(entry, position, registry, signatures)
                except (TypeError, KeyError, AttributeError, ValueError):
                    whys = ["signatures are not readable"]
                problems += [f"{where}, {why}" for why in whys]
            previous, expected = stated, expected + 1
    return problems, hashes


def _pseudonymized(entry: dict[str, Any], marked: bool, result: Result) -> list[str]:
    """What is wrong with an entry of a pseudonymized export, or one marked so elsewhere."""
    if not result.pseudonymized_export:
        return ["entry is marked pseudonymized inside a plain export (altered?)"]
    result.pseudonymized += 1
    whys = []
    if not marked:
        whys.append("entry of a pseudonymized export is not marked pseudonymized")
    if "signatures" in entry:
        whys.append("entry of a pseudonymized export carries signatures")
    data = entry.get("data")
    ref = data.get("patient_ref") if isinstance(data, dict) else None
    if ref is not None and not str(ref).startswith("psn-"):
        whys.append("patient reference is not a pseudonym")
    return whys


def _entry_signatures(
    entry: dict[str, Any],
    seen: int,
    registry: Registry | None,
    signatures: Signatures,
) -> tuple[list[str], int]:
    """What is wrong with the entry's signatures and signers' keys; its registry position."""
    whys = []
    position = entry.get("registry")
    if registry is not None and (
        not isinstance(position, int) or not seen <= position <= registry.length
    ):
        return ["entry names no registry position it could have been signed at"], seen
    content = signed_content(ENTRY_PREFIX, entry)
    for part in ("signer", "verifier"):
        signer = entry.get(part)
        if signer is None:
            continue
        if registry is not None:
            holder = registry.at(signer["id"], position)
            if holder is None or not holder["active"]:
                whys.append(f"{signer['id']} was no active operator when the entry was signed")
            elif holder["key"] is None or holder["key"] != signer.get("key"):
                whys.append(f"signed with a key that was not {signer['id']}'s")
            elif holder["role"] != signer.get("role"):
                said = signer.get("role")
                whys.append(f"{signer['id']} signed as {said} but was {holder['role']} then")
        if not signatures.holds(signer.get("key"), content, entry["signatures"].get(part)):
            whys.append(f"the {part}'s signature ({signer['id']}) does not verify")
    return whys, position if isinstance(position, int) else seen


def check_seal(registry: Registry, result: Result) -> list[str]:
    """Entries signed before keys are those the migration sealed (a whole-record export)."""
    listing = [[case, seq, head] for case, (seq, head) in sorted(result.legacy.items())]
    if registry.seal is None or not listing:
        return []
    if sha256(canonical(listing)) != registry.seal.get("digest"):
        return [
            "registry, -, entries signed before keys differ from those the migration sealed "
            "(added, removed or rewritten)"
        ]
    return []


def check_checkpoints(
    checkpoints: list[dict[str, Any]],
    hashes: dict[tuple[int, int], str],
    registry: Registry | None,
    signatures: Signatures,
    against: str | None = None,
) -> list[str]:
    problems = []
    for mark in checkpoints:
        name = f"checkpoint, -, {mark['digest']} of {mark['taken_at']}"
        if mark.get("body"):
            named = mark["digest"] == against
            whys = _signed_checkpoint(mark, hashes, registry, signatures, named)
            problems += [f"{name}: {why}" for why in whys]
            continue
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
            problems.append(f"{name} does not recompute from the exported entries")
        if registry is not None:
            sealed_at = registry.seal and registry.seal.get("recorded_at")
            if not sealed_at or mark["taken_at"] > sealed_at:
                problems.append(f"{name} is not signed")
    return problems


def _signed_checkpoint(
    mark: dict[str, Any],
    hashes: dict[tuple[int, int], str],
    registry: Registry | None,
    signatures: Signatures,
    named: bool,
) -> list[str]:
    """What is wrong with a signed checkpoint (bmac_workflow/checkpoint.py); for the one
    --against names, also a case it should cover and does not (as `bmac audit verify
    --against` checks)."""
    text = mark["body"]
    if sha256(text) != mark["digest"]:
        return ["its body does not give its digest (altered)"]
    try:
        body = json.loads(text)
        if body.get("format") != CHECKPOINT_FORMAT:
            raise ValueError("not a checkpoint")
        heads = {int(c): (int(n), str(h)) for c, (n, h) in body["heads"].items()}
        length, head = int(body["registry"][0]), str(body["registry"][1])
        last_case, signer = int(body["last_case"]), body["signer"]
        who = signer["id"]
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        return ["its body is not readable"]
    whys = []
    if registry is not None:
        holder = registry.at(who, length)
        if holder is None or not holder["active"] or holder["role"] != "auditor":
            whys.append(f"it was signed by {who}, who was no active auditor then")
        elif holder["key"] != signer.get("key") or signer.get("meaning") != "reviewed":
            whys.append(f"it was signed with a key that was not {who}'s")
        if length and registry.hashes.get(length) != head:
            whys.append(f"the registry it covers (entry {length}) is not the export's")
    content = CHECKPOINT_PREFIX + text.encode("utf-8")
    if not signatures.holds(signer.get("key"), content, mark.get("signature")):
        whys.append(f"the signature of {who} does not verify")
    for case, (count, covered) in sorted(heads.items()):
        found = hashes.get((case, count))
        if found is None:
            whys.append(f"case {case} entry {count} it covers is not in the export")
        elif found != covered:
            whys.append(f"case {case} entries up to {count} it covers were rewritten")
    inserted = sorted({c for c, _ in hashes if c <= last_case and c not in heads} if named else ())
    if inserted:
        whys.append(f"case(s) {', '.join(map(str, inserted))} were not in the record it covers")
    return whys


def load(path: str) -> dict[str, Any]:
    """The export as a JSON document (a CSV one has entries only)."""
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
            if not r["seq"].startswith("R")  # a refused attempt (refusals log), not an entry
        ]
        marked = any(e["pseudonymized"] for e in entries)
        return {"format": PSEUDONYMIZED if marked else "csv", "entries": entries, "checkpoints": []}
    with open(path, encoding="utf-8") as handle:
        document: dict[str, Any] = json.load(handle)
    if document.get("format") not in FORMATS:
        raise SystemExit(f"{path}: not a bmac export (format {document.get('format')!r})")
    return document


def check(
    document: dict[str, Any],
    against: str | None,
    signatures: Signatures,
    root: str | None = None,
) -> tuple[list[str], Result, Registry | None]:
    """Every problem in the export, what else the check found, and the registry."""
    problems: list[str] = []
    registry = None
    if "registry" in document:
        registry, problems = check_registry(document["registry"], signatures)
    result = Result()
    result.pseudonymized_export = document.get("format") == PSEUDONYMIZED
    carried = ("registry", "quality", "checkpoints")
    if result.pseudonymized_export and any(document.get(name) for name in carried):
        problems.append(
            "export, -, a pseudonymized export carries no registry, quality log or checkpoints"
        )
    if registry is not None and "quality" in document:
        problems += check_quality(document["quality"], registry, signatures)
    found, hashes = check_entries(
        document["entries"], registry, signatures, result, result.pseudonymized_export
    )
    problems += found
    if "quality" in document and result.quality_named > len(document["quality"]):
        problems.append(
            f"quality log, -, entries were signed with {result.quality_named} acts in force, "
            f"the export holds {len(document['quality'])} (acts removed?)"
        )
    if registry is not None and document.get("case") is None:
        problems += check_seal(registry, result)
    checkpoints = document.get("checkpoints", [])
    wanted = None if against is None else re.sub(r"[\s:-]", "", against).lower()
    problems += check_checkpoints(checkpoints, hashes, registry, signatures, wanted)
    if wanted is not None and wanted not in [mark["digest"] for mark in checkpoints]:
        problems.append(f"checkpoint, -, {wanted} is not among the export's checkpoints")
    if root is not None:
        have = fingerprint(registry.root_key) if registry and registry.root_key else None
        if have is None or re.sub(r"[\s:-]", "", root).lower() != have.replace(":", ""):
            problems.append(f"registry, -, the root key is {have}, not {root}")
    return problems, result, registry


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    options: dict[str, str | None] = {"--against": None, "--root": None}
    pure = "--pure" in argv
    argv = [a for a in argv if a != "--pure"]
    for name in options:
        if name in argv:
            at = argv.index(name)
            if at + 1 >= len(argv):
                print(f"{name} needs a value", file=sys.stderr)
                return 2
            options[name] = argv[at + 1]
            argv = argv[:at] + argv[at + 2 :]
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    document = load(argv[0])
    verify = None if pure else nacl_verifier()
    if verify is not None:
        signatures = Signatures(verify, "PyNaCl")
    else:
        why = "--pure" if pure else "PyNaCl is not installed"
        signatures = Signatures(verify_pure, f"pure Python: {why}")
    problems, result, registry = check(
        document, options["--against"], signatures, options["--root"]
    )
    entries, checkpoints = document["entries"], document.get("checkpoints", [])
    for problem in problems:
        print(problem)
    if problems:
        print(
            f"NOT VERIFIED: {len(problems)} problem(s) in {len(entries)} entries", file=sys.stderr
        )
        return 1
    cases = len({e["case_id"] for e in entries})
    if result.pseudonymized_export:
        print(
            f"verified as a pseudonymized export: {len(entries)} entries in {cases} case(s) "
            "form chains of their own (hashes and links recomputed, no signatures: nothing "
            "derives from a patient reference)"
        )
        print("  it shows the export is whole; verify the record itself for who signed what")
        return 0
    print(f"verified: {len(entries)} entries in {cases} case(s), {len(checkpoints)} checkpoint(s)")
    print(f"signatures: {signatures.checked} verified (Ed25519, {signatures.name})")
    if result.before_keys:
        print(f"  {result.before_keys} entries signed before keys (checked by hash only)")
        if registry is not None and document.get("case") is not None:
            print("  (the migration's seal over them is checked on an export of the whole record)")
    if registry is None:
        print(
            "  the keys were not checked against the operator registry: this export does not "
            "carry it (a JSON export of bmac-export/2 does)"
        )
    else:
        root = fingerprint(registry.root_key) if registry.root_key else "none"
        print(f"operator registry: {registry.length} entries; root key fingerprint {root}")
        if "quality" in document:
            print(f"quality log: {len(document['quality'])} acts (lot holds, devices)")
        if options["--root"] is None:
            print("  compare it with the one written down when the clinic's first admin was added")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
