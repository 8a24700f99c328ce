"""Audit: verify the hash chains and the case rows against a replay of the log; checkpoints."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from .record import GENESIS, CaseSnapshot, Entry, canonical, digest, replay
from .store.models import CaseRow, EntryRow
from .store.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Problem:
    """One thing wrong in the record: which case, which entry, what."""

    case_id: int
    seq: int | None
    what: str

    def __str__(self) -> str:
        where = f"case {self.case_id}" + (f", seq {self.seq}" if self.seq is not None else "")
        return f"{where}: {self.what}"


Progress = Callable[[int], None]


def check_chain(
    case_id: int, rows: Iterable[tuple[int, str, str]]
) -> tuple[list[Problem], list[Entry], str]:
    """Check one case's entries (seq, body, hash): contiguous seq, hashes, links. Returns the
    problems, the parsed entries and the hash of the last entry."""
    problems: list[Problem] = []
    entries: list[Entry] = []
    expected_seq, previous = 1, GENESIS
    for seq, body, stored_hash in rows:
        if seq != expected_seq:
            what = f"entry {expected_seq} is missing" if seq > expected_seq else "seq repeated"
            problems.append(Problem(case_id, expected_seq if seq > expected_seq else seq, what))
            expected_seq = seq
        if digest(body) != stored_hash:
            problems.append(
                Problem(case_id, seq, "hash does not match the entry's content (altered)")
            )
        try:
            entry = Entry.from_body(body)
        except (ValueError, TypeError, KeyError, AttributeError):
            problems.append(Problem(case_id, seq, "entry is not readable JSON of an entry"))
            previous, expected_seq = stored_hash, expected_seq + 1
            continue
        if entry.case_id != case_id or entry.seq != seq:
            problems.append(
                Problem(case_id, seq, f"entry says it is case {entry.case_id} seq {entry.seq}")
            )
        if entry.prev_hash != previous:
            problems.append(Problem(case_id, seq, "chain broken: previous hash does not link"))
        entries.append(entry)
        previous, expected_seq = stored_hash, expected_seq + 1
    return problems, entries, previous


def check_case_row(
    row: CaseRow | None, case_id: int, entries: list[Entry], head: str
) -> list[Problem]:
    """Compare a case row with the replay of its log."""
    if row is None:
        return [Problem(case_id, None, "entries exist for a case row that is missing")]
    if not entries:
        return [Problem(case_id, None, "case row has no entries in the log")]
    try:
        replayed = replay(entries)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # An entry that parses but does not fold (a damaged field): report it, never crash.
        what = f"the log does not replay ({type(exc).__name__}: {exc})"
        return [Problem(case_id, entries[0].seq, what)]
    assert replayed is not None
    stored = CaseSnapshot.from_facts(json.loads(row.facts)) if row.facts != "{}" else None
    problems = []
    for column, value in (
        ("state", replayed.state),
        ("version", replayed.version),
        ("head_hash", head),
    ):
        if getattr(row, column) != value:
            problems.append(
                Problem(
                    case_id,
                    replayed.version,
                    f"case row {column} {getattr(row, column)!r} differs from the log's {value!r}",
                )
            )
    if stored is None or stored.facts() != {**replayed.facts(), "head_hash": stored.head_hash}:
        problems.append(
            Problem(case_id, replayed.version, "case row data differs from a replay of its log")
        )
    return problems


def _grouped(rows: Iterable[Any]) -> Iterator[tuple[int, list[tuple[int, str, str]]]]:
    case_id: int | None = None
    bucket: list[tuple[int, str, str]] = []
    for row in rows:
        if row[0] != case_id:
            if case_id is not None:
                yield case_id, bucket
            case_id, bucket = row[0], []
        bucket.append((row[1], row[2], row[3]))
    if case_id is not None:
        yield case_id, bucket


def verify(
    uow: UnitOfWork, case_id: int | None = None, progress: Progress | None = None
) -> list[Problem]:
    """Every problem in the record (or in one case): hashes, seq, links, case rows vs replay."""
    problems: list[Problem] = []
    with uow:
        query = select(EntryRow.case_id, EntryRow.seq, EntryRow.body, EntryRow.hash).order_by(
            EntryRow.case_id, EntryRow.seq
        )
        cases = select(CaseRow).order_by(CaseRow.id)
        if case_id is not None:
            query = query.where(EntryRow.case_id == case_id)
            cases = cases.where(CaseRow.id == case_id)
        rows_by_id = {row.id: row for row in uow.session.execute(cases).scalars()}
        seen: set[int] = set()
        for cid, rows in _grouped(uow.session.execute(query.execution_options(yield_per=2000))):
            seen.add(cid)
            chain_problems, entries, head = check_chain(cid, rows)
            problems += chain_problems
            problems += check_case_row(rows_by_id.get(cid), cid, entries, head)
            if progress:
                progress(len(rows))
        for cid, row in rows_by_id.items():
            if cid not in seen and row.version > 0:
                problems.append(Problem(cid, None, "case row has no entries in the log"))
    return problems


def heads_digest(heads: dict[str, tuple[int, str]]) -> str:
    """The checkpoint digest: SHA-256 over the canonical list of [case, entry count, head hash]."""
    listing = [[int(c), n, h] for c, (n, h) in sorted(heads.items(), key=lambda kv: int(kv[0]))]
    return hashlib.sha256(canonical(listing).encode()).hexdigest()
