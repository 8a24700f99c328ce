"""The audit's checks, pure: one case's hash chain, its case row and worklist against a replay
of its log, and the checkpoint digest. services/verification.py reads the record and runs them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import MISSING, dataclass, fields
from typing import Any
from typing import Protocol as Shape

from .json_text import read_json
from .protocol import Protocol
from .record import GENESIS, CaseSnapshot, Entry, canonical, digest, fold
from .rules import DueRow, due_rows

# The case id of a problem that concerns the whole record rather than one case.
RECORD = 0


@dataclass(frozen=True)
class Problem:
    """One thing wrong in the record: which case, which entry, what."""

    case_id: int
    seq: int | None
    what: str

    def __str__(self) -> str:
        where = f"case {self.case_id}" + (f", seq {self.seq}" if self.seq is not None else "")
        return f"{where}: {self.what}"


class CaseRowView(Shape):
    """What the audit compares of a stored case row."""

    @property
    def state(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def head_hash(self) -> str: ...
    @property
    def facts(self) -> str: ...
    @property
    def patient_ref(self) -> str: ...
    @property
    def knee(self) -> str: ...
    @property
    def specimen_id(self) -> str | None: ...


def check_chain(
    case_id: int, rows: Iterable[tuple[int, str, str]]
) -> tuple[list[Problem], list[Entry], str]:
    """Check one case's entries (seq, body, hash): contiguous seq, hashes, links. Returns the
    problems, the parsed entries and the hash of the last entry."""
    problems, entries, _, head = read_chain(case_id, rows)
    return problems, entries, head


def read_chain(
    case_id: int, rows: Iterable[tuple[int, str, str]]
) -> tuple[list[Problem], list[Entry], list[str], str]:
    """`check_chain`, with the stored body of each parsed entry (same order)."""
    problems: list[Problem] = []
    entries: list[Entry] = []
    bodies: list[str] = []
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
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
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
        bodies.append(body)
        previous, expected_seq = stored_hash, expected_seq + 1
    return problems, entries, bodies, previous


def check_case_row(
    row: CaseRowView | None,
    case_id: int,
    entries: list[Entry],
    head: str,
    worklist: tuple[Protocol, set[DueRow]] | None = None,
    replayed: CaseSnapshot | None = None,
) -> list[Problem]:
    """Compare a case row with the replay of its log (`replayed` if the caller folded it
    already); with `worklist` (the case's protocol and its stored worklist rows), also the
    follow-up visits `followup due` lists for it."""
    if row is None:
        return [Problem(case_id, None, "entries exist for a case row that is missing")]
    if not entries:
        return [Problem(case_id, None, "case row has no entries in the log")]
    if replayed is None:
        try:
            # The head hash comes from the chain check: no need to re-serialise the last entry.
            replayed = fold(entries)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # An entry that parses but does not fold (a damaged field): report it, never crash.
            what = f"the log does not replay ({type(exc).__name__}: {exc})"
            return [Problem(case_id, entries[0].seq, what)]
    assert replayed is not None
    problems = []
    for column, value in (
        ("state", replayed.state),
        ("version", replayed.version),
        ("head_hash", head),
        ("patient_ref", replayed.patient_ref),
        ("knee", replayed.knee),
        ("specimen_id", replayed.specimen_id),
    ):
        if getattr(row, column) != value:
            problems.append(
                Problem(
                    case_id,
                    replayed.version,
                    f"case row {column} {getattr(row, column)!r} differs from the log's {value!r}",
                )
            )
    if not _same_facts(row.facts, replayed):
        problems.append(
            Problem(case_id, replayed.version, "case row data differs from a replay of its log")
        )
    if worklist is not None:
        try:
            problems += _check_worklist(case_id, replayed, *worklist)
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            # A damaged time in the log (the injection's) gives no schedule: report it.
            what = f"the follow-up schedule does not replay ({type(exc).__name__}: {exc})"
            problems.append(Problem(case_id, replayed.version, what))
    return problems


def _check_worklist(
    case_id: int, replayed: CaseSnapshot, protocol: Protocol, stored: set[DueRow]
) -> list[Problem]:
    """A visit missing from the worklist is a patient nobody calls back: name each difference."""
    expected = set(due_rows(replayed, protocol))
    if stored == expected:
        return []

    def shown(rows: set[DueRow]) -> str:
        own = (replayed.patient_ref, replayed.knee)
        return ", ".join(
            f"{r.visit} due {r.due_at}"
            + ("" if (r.patient_ref, r.knee) == own else f" for {r.patient_ref} {r.knee}")
            for r in sorted(rows)
        )

    missing, extra = shown(expected - stored), shown(stored - expected)
    what = "; ".join(
        part
        for part in (missing and f"missing {missing}", extra and f"not in the log {extra}")
        if part
    )
    return [Problem(case_id, replayed.version, f"follow-up worklist differs from the log: {what}")]


def _fact_defaults() -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    for f in fields(CaseSnapshot):
        if f.default is not MISSING:
            defaults[f.name] = f.default
        elif f.default_factory is not MISSING:
            defaults[f.name] = f.default_factory()
    defaults["visits"] = list(defaults.get("visits", ()))
    defaults["late_entries"] = list(defaults.get("late_entries", ()))
    return defaults


# What a stored snapshot means for a key it lacks (a row written before the key existed).
_FACT_DEFAULTS = _fact_defaults()


def _same_facts(stored_text: str, replayed: CaseSnapshot) -> bool:
    """Whether the row's cached snapshot is the replayed one (its head hash is compared as a
    column). Compared as parsed JSON: no snapshot object is built for the row."""
    try:
        stored = read_json(stored_text)
    except ValueError:
        return False
    if not isinstance(stored, dict) or not stored:
        return False
    expected = replayed.facts()
    expected["head_hash"] = stored.get("head_hash")
    if stored.keys() == expected.keys():
        return bool(stored == expected)
    return {**_FACT_DEFAULTS, **stored} == expected


def heads_digest(heads: dict[str, tuple[int, str]]) -> str:
    """The checkpoint digest: SHA-256 over the canonical list of [case, entry count, head hash]."""
    listing = [[int(c), n, h] for c, (n, h) in sorted(heads.items(), key=lambda kv: int(kv[0]))]
    return hashlib.sha256(canonical(listing).encode()).hexdigest()


def shared_specimens(specimens: dict[str, list[tuple[int, int]]]) -> list[Problem]:
    """A specimen label the logs give to more than one case (the case row's unique column can
    be emptied; the log cannot)."""
    problems = []
    for label, places in sorted(specimens.items()):
        for case, seq in sorted(places)[1:]:
            first = min(places)[0]
            problems.append(
                Problem(case, seq, f"specimen {label} is case {first}'s already: one specimen "
                        "belongs to one case")
            )  # fmt: skip
    return problems


def specimen_given(entries: list[Entry], label: str) -> int:
    """The seq of the entry that gave the case its specimen label last."""
    seq = entries[0].seq
    for entry in entries:
        changes = entry.data.get("changes")
        given = changes.get("specimen_id") if isinstance(changes, dict) else None
        if label in (entry.data.get("specimen_id"), given):
            seq = entry.seq
    return seq


def covered_entries(
    heads: dict[int, tuple[int, str]], found: dict[tuple[int, int], str]
) -> list[Problem]:
    """Cases whose entries a checkpoint covers (count, head hash) against the hash recomputed
    from each (case, count) entry found now."""
    problems = []
    for case, (count, head) in sorted(heads.items()):
        now = found.get((case, count))
        if now is None:
            problems.append(
                Problem(case, count, "entries the checkpoint covers are gone (deleted)")
            )
        elif now != head:
            problems.append(Problem(case, count, "entries the checkpoint covers were rewritten"))
    return problems


def signed_prefix(case_id: int, entries: list[Entry]) -> list[Problem]:
    """Entries signed before keys come first in a case: none after a signed one."""
    signed_yet = False
    for entry in entries:
        if entry.signatures is not None:
            signed_yet = True
        elif signed_yet:
            return [Problem(case_id, entry.seq, "entry is not signed")]
    return []


def within(case: int, case_id: int | None, low: int | None, high: int | None) -> bool:
    """Whether `case` is the one case checked, or lies in the range [low, high]."""
    if case_id is not None:
        return case == case_id
    return (low is None or case >= low) and (high is None or case <= high)
