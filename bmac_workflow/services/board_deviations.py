"""Deviations on the web board: the open ones (a badge on each case's row and a list of their
own, every case there logged as shown), and a case's deviations in full on its page.

Read in the board's reading unit of work (services/board.py); the case page's come from the
case's log, as `bmac deviation show` gives them (services/deviations.py `of_case`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..access import masked

if TYPE_CHECKING:
    from ..store.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class OpenOnBoard:
    """A deviation still open, as the board lists it (the patient masked, as elsewhere on it)."""

    number: int
    case_id: int
    entry: int
    kind: str
    opened_at: str
    opened_by: str
    patient: str


@dataclass(frozen=True)
class OpenDeviations:
    """The open deviations at one view: listed by number, counted by case (`counts`), and the
    (case, patient) pairs they show (`pairs`, for the access log). `key` changes whenever any
    deviation opens or closes: what the board made of its rows is kept until it does."""

    listed: list[OpenOnBoard]
    counts: dict[int, int]
    pairs: list[tuple[int, str]]
    key: tuple[tuple[int, int], ...]
    scratch: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __len__(self) -> int:
        return len(self.listed)

    def of(self, case_id: int) -> int:
        """How many deviations of the case are open."""
        return self.counts.get(case_id, 0)


def open_deviations(uow: UnitOfWork) -> OpenDeviations:
    """Every deviation still open, by number (from the index of the open ones)."""
    listed: list[OpenOnBoard] = []
    counts: dict[int, int] = {}
    patients: dict[int, str] = {}
    for (
        number,
        case_id,
        entry,
        kind,
        opened_at,
        opened_by,
        patient_ref,
    ) in uow.repo.open_deviations():
        listed.append(
            OpenOnBoard(number, case_id, entry, kind, opened_at, opened_by, masked(patient_ref))
        )
        counts[case_id] = counts.get(case_id, 0) + 1
        patients[case_id] = patient_ref
    key = tuple((d.number, d.case_id) for d in listed)
    return OpenDeviations(listed, counts, sorted(patients.items()), key)


def shown_with(shown: list[tuple[int, str]], flagged: OpenDeviations) -> list[tuple[int, str]]:
    """The board's (case, patient) pairs and those of the open deviations' cases it does not
    show otherwise (each case once)."""
    if not flagged.pairs:
        return shown
    ids = {case_id for case_id, _ in shown}
    return shown + [pair for pair in flagged.pairs if pair[0] not in ids]
