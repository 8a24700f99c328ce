"""The record: log entries, their canonical form and hash chain, and the case they add up to.

An entry's canonical form is its JSON with sorted keys, no spaces, UTF-8, no NaN; its hash is the
SHA-256 of those bytes, and each entry carries the hash of the one before it in its case. The
case row is a cache of `replay(entries)`; `apply` is the one fold both the services and the
audit use, so the two cannot drift apart.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .json_text import canonical as canonical  # the record's one canonical form
from .json_text import read_json
from .meanings import Meaning as Meaning  # every signer names its meaning from here

GENESIS = "0" * 64
# A step's volumes are its values in mL: units are in the field names (docs/clinical-rules.md).
VOLUME_SUFFIX = "_ml"


def signed_content(prefix: bytes, plain: dict[str, Any]) -> bytes:
    """What a signature over plain data signs: the prefix naming what is signed (an entry, a
    registry act) and the canonical JSON without the signatures."""
    if "signatures" in plain:
        plain = {k: v for k, v in plain.items() if k != "signatures"}
    return prefix + canonical(plain).encode("utf-8")


def digest(body: str) -> str:
    """SHA-256 hex of a canonical body."""
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


# Fields written only once they have a value, so that an entry made before they existed keeps
# the very text (and hash) it was made with.
_LATER_FIELDS = ("key", "registry", "quality", "signatures", "minutes_late", "late_reason")
# Entry fields a body written before them lacks: read back as None.
_LATE_FIELDS = dict.fromkeys(("registry", "quality", "signatures", "minutes_late", "late_reason"))
# What an entry's signature signs: this prefix, then the entry's content (its canonical JSON
# without the signatures themselves). The prefix keeps a signature from meaning anything else.
SIGNED_PREFIX = b"bmac-entry/1\n"


@dataclass(frozen=True)
class Signature:
    """Who signed, under which printed name and role, what the signature means, and the public
    key it was made with (None for an entry signed before operators had keys)."""

    id: str
    name: str
    role: str
    meaning: str
    key: str | None = None

    def plain(self) -> dict[str, Any]:
        """The signature as the entry's JSON holds it."""
        found = dict(self.__dict__)
        if found["key"] is None:
            del found["key"]
        return found


@dataclass(frozen=True)
class Entry:
    """One append-only log entry of a case."""

    case_id: int
    seq: int
    action: str
    from_state: str | None
    to_state: str
    at: str
    recorded_at: str
    signer: Signature
    data: dict[str, Any]
    prev_hash: str
    verifier: Signature | None = None
    reason: str | None = None
    corrects: int | None = None
    # The operator registry's length when the entry was signed: whose keys and roles it holds.
    registry: int | None = None
    quality: int | None = None  # the quality log's length then (quality.py); None: before it
    # The signatures over `content()`: {"signer": ..., "verifier": ...}, base64 Ed25519.
    signatures: dict[str, str] | None = None
    # Minutes recorded after its clinical time, when more than allowed, and why (lateness.py).
    minutes_late: float | None = None
    late_reason: str | None = None

    def plain(self) -> dict[str, Any]:
        """The entry as plain JSON data, exactly what is hashed."""
        found = dict(self.__dict__)
        found["signer"] = self.signer.plain()
        if self.verifier is not None:
            found["verifier"] = self.verifier.plain()
        for name in _LATER_FIELDS:
            if found.get(name, 0) is None:
                del found[name]
        return found

    def body(self) -> str:
        """Canonical JSON text of the entry, signatures included: what is hashed and stored."""
        return canonical(self.plain())

    def content(self) -> bytes:
        """What the signatures sign: the prefix and the entry's canonical JSON without them."""
        return signed_content(SIGNED_PREFIX, self.plain())

    @classmethod
    def from_body(cls, body: str) -> Entry:
        """Read an entry back from its stored canonical text."""
        raw = {**_LATE_FIELDS, **read_json(body)}
        raw["signer"] = restore(Signature, raw["signer"])
        if raw.get("verifier"):
            raw["verifier"] = restore(Signature, raw["verifier"])
        return restore(cls, raw)


_T = TypeVar("_T")


def restore(cls: type[_T], raw: dict[str, Any]) -> _T:
    """`cls(**raw)` for frozen dataclasses, fast when `raw` has exactly the fields (as every
    body `Entry.body()` wrote has): verify reads every entry of the record through here, and a
    frozen `__init__` costs as much as parsing the JSON. Anything else goes through `__init__`,
    which fills defaults or refuses."""
    if not isinstance(raw, dict) or raw.keys() != cls.__dataclass_fields__.keys():  # type: ignore[attr-defined]
        return cls(**raw)
    made = object.__new__(cls)
    made.__dict__.update(raw)
    return made


@dataclass(frozen=True)
class CaseSnapshot:
    """Where a case stands: everything the case row caches, derived from its log alone."""

    case_id: int
    patient_ref: str
    knee: str
    state: str
    version: int
    head_hash: str
    protocol_version: str
    protocol_sha256: str
    opened_at: str
    updated_at: str
    last_at: str
    assessment: str | None = None
    insurance_eligible: bool | None = None
    insurance_basis: str | None = None
    override_reason: str | None = None
    baseline_vas: float | None = None
    specimen_id: str | None = None
    harvested_at: str | None = None
    injected_at: str | None = None
    volumes_ml: dict[str, float] = field(default_factory=dict)
    concentration_factor: float | None = None
    visits: tuple[str, ...] = ()
    arthroplasty: bool = False
    end_reason: str | None = None
    late_entries: tuple[int, ...] = ()  # the seqs of entries recorded late (lateness.py)
    adverse_events: int = 0  # reported at the follow-up visits, as corrected

    def facts(self) -> dict[str, Any]:
        """The snapshot as JSON data, as the case row stores it."""
        # A shallow copy is asdict's result here (no nested dataclasses), at a tenth of the cost.
        data = dict(self.__dict__)
        data["volumes_ml"] = dict(self.volumes_ml)
        data["visits"] = list(self.visits)
        data["late_entries"] = list(self.late_entries)
        return data

    @classmethod
    def from_facts(cls, data: dict[str, Any]) -> CaseSnapshot:
        """Read a snapshot back from the case row."""
        # Lists and reports read one per row: _restore skips the frozen __init__ when the row
        # has exactly the fields (an older row goes through __init__ and gets the defaults).
        lists = {name: tuple(data.get(name, ())) for name in ("visits", "late_entries")}
        return restore(cls, {**data, **lists})


_SNAPSHOT_FIELDS = frozenset(CaseSnapshot.__dataclass_fields__)


def evolve(snapshot: CaseSnapshot, **changes: Any) -> CaseSnapshot:
    """`dataclasses.replace(snapshot, **changes)`, ten times faster: copies the fields instead
    of re-running `__init__`. The fold runs it once per entry on every write and every verify."""
    if not changes.keys() <= _SNAPSHOT_FIELDS:
        raise TypeError(f"CaseSnapshot has no field {sorted(changes.keys() - _SNAPSHOT_FIELDS)}")
    return _copied(snapshot, changes)


def _copied(snapshot: CaseSnapshot, changes: dict[str, Any]) -> CaseSnapshot:
    (new := object.__new__(CaseSnapshot)).__dict__.update(snapshot.__dict__, **changes)
    return new


def apply(
    snapshot: CaseSnapshot | None, entry: Entry, data: dict[str, Any], head_hash: str | None = None
) -> CaseSnapshot:
    """The case after `entry`, whose (possibly corrected) data is `data`; with `head_hash` when
    the caller has the entry's hash (a writer: one copy of the snapshot, not two)."""
    if snapshot is None:
        return CaseSnapshot(
            case_id=entry.case_id,
            patient_ref=data["patient_ref"],
            knee=data["knee"],
            state=entry.to_state,
            version=entry.seq,
            head_hash=head_hash or "",
            protocol_version=data["protocol_version"],
            protocol_sha256=data["protocol_sha256"],
            opened_at=entry.at,
            updated_at=entry.recorded_at,
            last_at=entry.at,
            late_entries=(entry.seq,) if entry.minutes_late is not None else (),
        )
    # One copy of the snapshot per entry: this fold runs for every entry the audit verifies.
    changes: dict[str, Any] = {
        "state": entry.to_state,
        "version": entry.seq,
        "updated_at": entry.recorded_at,
        "last_at": max(snapshot.last_at, entry.at),
    }
    if head_hash is not None:
        changes["head_hash"] = head_hash
    if entry.minutes_late is not None:
        changes["late_entries"] = (*snapshot.late_entries, entry.seq)
    measured = [key for key in data if key.endswith(VOLUME_SUFFIX)]
    if measured:
        volumes = {**snapshot.volumes_ml, **{key: data[key] for key in measured}}
        if volumes != snapshot.volumes_ml:
            changes["volumes_ml"] = volumes
    action = entry.action
    if action == "assess":
        changes.update(
            assessment=data.get("reason"),
            insurance_eligible=data.get("insurance_eligible"),
            insurance_basis=data.get("insurance_basis"),
            override_reason=data.get("override_reason"),
            baseline_vas=data.get("baseline_vas"),
        )
    elif action == "collect":
        changes.update(specimen_id=data["specimen_id"], harvested_at=entry.at)
    elif action == "concentrate":
        changes.update(concentration_factor=data.get("concentration_factor"))
    elif action == "inject":
        changes.update(injected_at=entry.at)
    elif action == "record_follow_up":
        visits = snapshot.visits if data["visit"] == "adhoc" else (*snapshot.visits, data["visit"])
        replaced, events = bool(data.get("arthroplasty")), len(data.get("adverse_events") or ())
        changes.update(
            visits=visits,
            arthroplasty=snapshot.arthroplasty or replaced,
            adverse_events=snapshot.adverse_events + events,
        )
    elif action in ("cancel", "close"):
        changes.update(end_reason=entry.reason)
    return _copied(snapshot, changes)  # every key above is a field: `evolve`'s check is moot


def effective_data(entries: Iterable[Entry]) -> dict[int, dict[str, Any]]:
    """Each entry's data with every later correction applied to it."""
    result: dict[int, dict[str, Any]] = {}
    for entry in entries:
        if entry.action == "correct" and entry.corrects in result:
            result[entry.corrects] = {**result[entry.corrects], **entry.data["changes"]}
        result[entry.seq] = dict(entry.data)
    return result


def replay(entries: list[Entry]) -> CaseSnapshot | None:
    """Rebuild a case from its log, oldest entry first."""
    snapshot = fold(entries)
    if snapshot is not None and entries:
        snapshot = evolve(snapshot, head_hash=digest(entries[-1].body()))
    return snapshot


def fold(entries: list[Entry]) -> CaseSnapshot | None:
    """`replay` without the head hash, for a caller that holds it already (the audit)."""
    data = effective_data(entries)
    snapshot: CaseSnapshot | None = None
    for entry in entries:
        if entry.action == "correct" and snapshot is not None:
            late = (entry.seq,) if entry.minutes_late is not None else ()
            snapshot = evolve(
                snapshot,
                version=entry.seq,
                updated_at=entry.recorded_at,
                last_at=max(snapshot.last_at, entry.at),
                late_entries=(*snapshot.late_entries, *late),
            )
            continue
        snapshot = apply(snapshot, entry, data[entry.seq])
    return snapshot
