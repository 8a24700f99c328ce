"""The record: log entries, their canonical form and hash chain, and the case they add up to.

An entry's canonical form is its JSON with sorted keys, no spaces, UTF-8, no NaN; its hash is the
SHA-256 of those bytes, and each entry carries the hash of the one before it in its case. The
case row is a cache of `replay(entries)`; `apply` is the one fold both the services and the
audit use, so the two cannot drift apart.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

GENESIS = "0" * 64
VOLUMES = ("aspirate_ml", "filtered_ml", "plasma_removed_ml", "concentrate_ml", "injected_ml")


def canonical(value: Any) -> str:
    """The canonical JSON text of a value (the bytes that are hashed are its UTF-8)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def digest(body: str) -> str:
    """SHA-256 hex of a canonical body."""
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Signature:
    """Who signed, under which printed name and role, and what the signature means."""

    id: str
    name: str
    role: str
    meaning: str


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

    def as_dict(self) -> dict[str, Any]:
        """The entry as plain JSON data, exactly what is hashed."""
        return asdict(self)

    def body(self) -> str:
        """Canonical JSON text of the entry."""
        return canonical(self.as_dict())

    @classmethod
    def from_body(cls, body: str) -> Entry:
        """Read an entry back from its stored canonical text."""
        raw = json.loads(body)
        raw["signer"] = Signature(**raw["signer"])
        if raw.get("verifier"):
            raw["verifier"] = Signature(**raw["verifier"])
        return cls(**raw)


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

    def facts(self) -> dict[str, Any]:
        """The snapshot as JSON data, as the case row stores it."""
        data = asdict(self)
        data["visits"] = list(self.visits)
        return data

    @classmethod
    def from_facts(cls, data: dict[str, Any]) -> CaseSnapshot:
        """Read a snapshot back from the case row."""
        return cls(**{**data, "visits": tuple(data.get("visits", ()))})


def apply(snapshot: CaseSnapshot | None, entry: Entry, data: dict[str, Any]) -> CaseSnapshot:
    """The case after `entry`, whose (possibly corrected) data is `data`."""
    if snapshot is None:
        return CaseSnapshot(
            case_id=entry.case_id,
            patient_ref=data["patient_ref"],
            knee=data["knee"],
            state=entry.to_state,
            version=entry.seq,
            head_hash="",
            protocol_version=data["protocol_version"],
            protocol_sha256=data["protocol_sha256"],
            opened_at=entry.at,
            updated_at=entry.recorded_at,
            last_at=entry.at,
        )
    s = replace(
        snapshot,
        state=entry.to_state,
        version=entry.seq,
        updated_at=entry.recorded_at,
        last_at=max(snapshot.last_at, entry.at),
    )
    volumes = dict(s.volumes_ml)
    for key in VOLUMES:
        if key in data:
            volumes[key] = data[key]
    if volumes != s.volumes_ml:
        s = replace(s, volumes_ml=volumes)
    action = entry.action
    if action == "assess":
        s = replace(
            s,
            assessment=data.get("reason"),
            insurance_eligible=data.get("insurance_eligible"),
            insurance_basis=data.get("insurance_basis"),
            override_reason=data.get("override_reason"),
            baseline_vas=data.get("baseline_vas"),
        )
    elif action == "collect":
        s = replace(s, specimen_id=data["specimen_id"], harvested_at=entry.at)
    elif action == "concentrate":
        s = replace(s, concentration_factor=data.get("concentration_factor"))
    elif action == "inject":
        s = replace(s, injected_at=entry.at)
    elif action == "record_follow_up":
        visits = s.visits if data["visit"] == "adhoc" else (*s.visits, data["visit"])
        s = replace(s, visits=visits, arthroplasty=s.arthroplasty or bool(data.get("arthroplasty")))
    elif action in ("cancel", "close"):
        s = replace(s, end_reason=entry.reason)
    return s


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
    data = effective_data(entries)
    snapshot: CaseSnapshot | None = None
    for entry in entries:
        if entry.action == "correct" and snapshot is not None:
            snapshot = replace(
                snapshot,
                version=entry.seq,
                updated_at=entry.recorded_at,
                last_at=max(snapshot.last_at, entry.at),
            )
            continue
        snapshot = apply(snapshot, entry, data[entry.seq])
    if snapshot is not None and entries:
        snapshot = replace(snapshot, head_hash=digest(entries[-1].body()))
    return snapshot
