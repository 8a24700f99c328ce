"""Checkpoints: an auditor signs, once the audit found nothing, a digest over every case's head,
the registry's head, the protocols and the last case id; later `verify --against DIGEST` names
each difference between the record and what the digest covered.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import checkpoint
from ..checks import RECORD, Problem, heads_digest
from ..errors import BmacError, InvalidData, RecordAltered
from ..record import GENESIS, Meaning, digest
from ..roles import check_permitted
from ..timeutil import iso
from .coverage import against
from .recording import Clock
from .signing import Credentials, record, record_alone, sign_in
from .verification import Progress, verify

if TYPE_CHECKING:
    from ..store.database import Database
    from ..store.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Checkpoint:
    """A signed digest, and what it covers."""

    digest: str
    taken_at: str
    cases: int
    entries: int
    operator: str


def grouped(value: str) -> str:
    """The digest in eight groups of eight hex digits, for paper."""
    return " ".join(value[i : i + 8] for i in range(0, len(value), 8))


def parse_digest(text: str) -> str:
    """A digest as typed (any case, spaces or dashes between groups) as 64 lower-case hex."""
    value = re.sub(r"[\s:-]", "", text).lower()
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        raise InvalidData(
            f"--against {text[:80]!r} is not a checkpoint digest: give the 64 hex digits that "
            "`bmac audit checkpoint` printed (spaces between groups are fine)"
        )
    return value


def take_checkpoint(
    signer: Credentials, clock: Clock, db: Database, progress: Progress | None = None
) -> Checkpoint:
    """Review the record (the audit, signatures since the last checkpoint) and sign a digest
    over what it holds (auditor); refused (8) if the audit finds anything."""
    signed = sign_in(signer, clock(), db)
    now = clock()
    try:
        check_permitted("audit_checkpoint", signed.holder.role)
        # What the checkpoint covers: the record as the audit starts, read with no case write
        # in flight (a lower case id committed later would look inserted behind its back).
        with db.write() as uow:
            uow.repo.settle_cases()
            heads = uow.repo.current_heads()
            rows = uow.repo.registry_rows()
            protocols = sorted(set(uow.repo.protocol_shas().values()))
            last_case = uow.repo.last_case_id()
            logs = checkpoint.Logs(uow.repo.refusal_heads(), uow.repo.access_head())
        problems = verify(db, progress=progress)
        if problems:
            raise RecordAltered(
                f"no checkpoint: the audit found {len(problems)} problem(s), the first: "
                f"{problems[0]}; run `bmac audit verify`"
            )
        registry_head = (rows[-1][0], rows[-1][2]) if rows else (0, GENESIS)
        signer_of = signed.signer(Meaning.REVIEWED)
        text = checkpoint.body(
            iso(now), signer_of.signature, heads, registry_head, protocols, last_case, logs
        )
        value = digest(text)
        with db.write() as uow:
            record(signed, now, uow)
            counts = {case: count for case, (count, _) in heads.items()}
            signature = signer_of.sign(checkpoint.signed_content(text))
            uow.repo.add_checkpoint(iso(now), signed.holder.id, counts, value, text, signature)
            uow.commit()
    except BmacError:
        record_alone(signed, now, db)
        raise
    entries = sum(count for count, _ in heads.values())
    return Checkpoint(value, iso(now), len(heads), entries, signed.holder.id)


def verify_against(value: str, db: Database) -> list[Problem]:
    """What differs between the record and the checkpoint `value` (empty: nothing removed)."""
    from ..registry_checks import check_registry

    value = parse_digest(value)
    with db.read() as uow:
        found = [row for row in uow.repo.checkpoint_rows() if row.digest == value]
        if not found:
            return [
                Problem(
                    RECORD,
                    None,
                    f"checkpoint {grouped(value)} is not in the database: its row was removed, "
                    "or the digest was mistyped",
                )
            ]
        mark = found[-1]
        if mark.body is None:
            return _against_before_keys(uow, value, json.loads(mark.heads))
        registry, _ = check_registry(uow.repo.registry_rows())
        why = checkpoint.problem(mark.body, mark.digest, mark.signature, registry)
        if why:
            return [Problem(RECORD, None, f"checkpoint {grouped(value)}: {why}")]
        return against(uow, checkpoint.read(mark.body))


def _against_before_keys(uow: UnitOfWork, value: str, counts: dict[str, int]) -> list[Problem]:
    """A checkpoint taken before keys: every case's head at the count it covered."""
    wanted = sorted((int(case), int(count)) for case, count in counts.items() if int(count) >= 1)
    found = uow.repo.head_hashes(wanted)
    heads: dict[str, tuple[int, str]] = {}
    problems = []
    for case_id, count in wanted:
        head = found.get((case_id, count))
        if head is None:
            problems.append(
                Problem(case_id, count, "entry covered by the checkpoint is gone (log truncated)")
            )
            continue
        heads[str(case_id)] = (count, head)
    if not problems and heads_digest(heads) != value:
        problems.append(
            Problem(
                RECORD,
                None,
                "entries the checkpoint covers were rewritten: their chain heads no longer "
                "give its digest",
            )
        )
    return problems
