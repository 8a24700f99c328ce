"""The chain of a signed log of its own (the operator registry, the quality log), checked the
same way for each by its audit (registry_checks.py, quality_checks.py): numbered from 1 with no
gap, each stored hash the digest of its body, each body readable and linking to the hash of the
one before. Pure."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol, TypeVar

from .checks import Problem
from .record import GENESIS, digest


class Linked(Protocol):
    """What an entry of a log says of its place in the chain."""

    @property
    def seq(self) -> int: ...
    @property
    def prev_hash(self) -> str: ...


Row = TypeVar("Row", bound=tuple[Any, ...])
Read = TypeVar("Read", bound=Linked)


def chained(
    rows: Iterable[Row],
    read: Callable[[str], Read],
    noun: str,
    problem: Callable[[int, str], Problem],
    problems: list[Problem],
) -> Iterator[tuple[Row, Read]]:
    """Each readable entry of a log, with its stored row (seq first, body and hash last), in
    the rows' order. What is wrong with the chain (an entry missing or repeated, a hash that does
    not match, a body `read` cannot read, a link that does not hold) goes to `problems` as
    `problem(seq, what)`, before the caller's own problems with that entry; `noun` names an
    entry of the log ("act", "entry": it follows "an")."""
    expected, previous = 1, GENESIS
    for row in rows:
        seq, body, stored = row[0], row[-2], row[-1]
        if seq != expected:
            problems.append(problem(expected, f"an {noun} is missing or repeated"))
            expected = seq
        if digest(body) != stored:
            problems.append(problem(seq, f"hash does not match the {noun}'s content (altered)"))
        try:
            entry = read(body)
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
            problems.append(problem(seq, f"{noun} is not readable"))
            previous, expected = stored, expected + 1
            continue
        if entry.prev_hash != previous or entry.seq != seq:
            problems.append(problem(seq, "chain broken: previous hash does not link"))
        yield row, entry
        previous, expected = stored, expected + 1
