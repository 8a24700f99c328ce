"""Checkpoints, pure: what an auditor's signed checkpoint covers, its digest, and its check.

A checkpoint covers every case's entry count and head hash, the registry's length and head, the
protocols stored, the last case id given, each case's refusals (count and head) and the access
log's length and head: the last entries of a chain are found removed only against one. Its
digest (SHA-256 of that, as canonical JSON) is printed to be kept away from the database:
`audit verify --against DIGEST` later names each difference. The auditor signs it (meaning
"reviewed") once the audit found nothing: the entries it covers need not be re-run again
(`audit verify` without `--full`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from . import keys
from .record import GENESIS, Meaning, Signature, canonical, digest
from .registry import Registry
from .roles import AUDITOR

FORMAT = "bmac-checkpoint/1"
SIGNED_PREFIX = b"bmac-checkpoint/1\n"


class StoredCheckpoint(NamedTuple):
    """A checkpoint row as stored."""

    taken_at: str
    operator_id: str
    digest: str
    heads: str
    body: str | None
    signature: str | None


@dataclass(frozen=True)
class Covered:
    """What a checkpoint covers, read back from its body."""

    heads: dict[int, tuple[int, str]]
    registry: tuple[int, str]
    protocols: list[str]
    last_case: int
    signer: Signature
    # Both absent from checkpoints taken before the refusals log and the access log existed.
    refusals: dict[int, tuple[int, str]] = field(default_factory=dict)
    access: tuple[int, str] = (0, GENESIS)


class Logs(NamedTuple):
    """The side logs a checkpoint covers: each case's refusals, the access log's head."""

    refusals: dict[str, tuple[int, str]]
    access: tuple[int, str]


def body(
    taken_at: str,
    signer: Signature,
    heads: dict[str, tuple[int, str]],
    registry: tuple[int, str],
    protocols: list[str],
    last_case: int,
    logs: Logs,
) -> str:
    """The canonical body of a new checkpoint (its SHA-256 is the digest)."""
    return canonical(
        {
            "format": FORMAT,
            "taken_at": taken_at,
            "signer": signer.plain(),
            "heads": {case: list(head) for case, head in heads.items()},
            "registry": list(registry),
            "protocols": sorted(protocols),
            "last_case": last_case,
            "refusals": {case: list(head) for case, head in logs.refusals.items()},
            "access": list(logs.access),
        }
    )


def signed_content(text: str) -> bytes:
    """What the auditor's signature signs."""
    return SIGNED_PREFIX + text.encode("utf-8")


def read(text: str) -> Covered:
    """A checkpoint's body read back (ValueError when it is not one)."""
    raw: dict[str, Any] = json.loads(text)
    if raw.get("format") != FORMAT:
        raise ValueError("not a checkpoint")
    return Covered(
        heads={int(case): (int(n), str(h)) for case, (n, h) in raw["heads"].items()},
        registry=(int(raw["registry"][0]), str(raw["registry"][1])),
        protocols=[str(p) for p in raw["protocols"]],
        last_case=int(raw["last_case"]),
        signer=Signature(**raw["signer"]),
        refusals={int(c): (int(n), str(h)) for c, (n, h) in raw.get("refusals", {}).items()},
        access=(int(raw.get("access", [0])[0]), str(raw.get("access", [0, GENESIS])[1])),
    )


def problem(text: str, stored_digest: str, signature: str | None, registry: Registry) -> str | None:
    """Why a stored signed checkpoint does not stand (None when it does): its digest, its
    reading, and that an auditor of the registry signed it with their own key."""
    if digest(text) != stored_digest:
        return "its body does not give its digest (altered)"
    try:
        covered = read(text)
    except (ValueError, KeyError, TypeError, IndexError, RecursionError):
        return "its body is not readable"
    signer = covered.signer
    holder = registry.at(signer.id, covered.registry[0])
    if holder is None or not holder.active or holder.role != AUDITOR:
        return f"it was signed by {signer.id}, who was no active auditor then"
    if holder.key != signer.key or signer.meaning != Meaning.REVIEWED:
        return f"it was signed with a key that was not {signer.id}'s"
    if not keys.verifies(signer.key or "", signed_content(text), signature or ""):
        return f"the signature of {signer.id} does not verify (forged or altered)"
    return None
