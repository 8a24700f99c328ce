"""Deviations: list and show them, and close one with its root cause and corrective action (a
signed entry of its case, by qa or a surgeon who did not make the override)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import deviations as rules
from .. import lateness
from ..errors import BmacError, InvalidData, NotAllowed, NotFound, NotPermitted
from ..record import Entry, Meaning
from ..roles import check_permitted
from ..rules import refuse_rrn
from ..timeutil import iso
from .recording import (
    Change,
    Clock,
    clinical_time,
    command_time,
    commit,
    load_case,
    signed_entry,
)
from .signing import Credentials, record, record_alone, sign_in

if TYPE_CHECKING:
    from ..store.database import Database
    from ..store.quality_rows import DeviationRow
    from ..store.unit_of_work import UnitOfWork


def row_of(row: DeviationRow) -> dict[str, Any]:
    """A deviation as `deviation list --json` gives it."""
    return {
        "deviation": row.id,
        "case_id": row.case_id,
        "entry": row.seq,
        "kind": row.kind,
        "opened_at": row.opened_at,
        "opened_by": row.opened_by,
        "open": row.closed_seq is None,
        "closed_by_entry": row.closed_seq,
    }


def listing(open_only: bool, db: Database) -> list[dict[str, Any]]:
    """Every deviation (or the open ones), by number."""
    with db.read() as uow:
        return listing_in(uow, open_only)


def listing_in(uow: UnitOfWork, open_only: bool) -> list[dict[str, Any]]:
    """`listing` in the caller's unit of work (a signed read: services/reads.py)."""
    return [row_of(r) for r in uow.repo.deviations(open_only=open_only)]


def of_case(uow: UnitOfWork, case_id: int) -> list[dict[str, Any]]:
    """A case's deviations in full: from its log, numbered by the cache."""
    numbers = {r.seq: r.id for r in uow.repo.deviations(case_id)}
    log = [entry for entry, _ in uow.repo.entries(case_id)]
    return [
        {"deviation": numbers.get(d.seq), **d.plain(), "entry": d.seq} for d in rules.replay(log)
    ]


def show(number: int, db: Database) -> dict[str, Any]:
    """One deviation in full: the override and its reason, and how it was closed."""
    with db.read() as uow:
        return show_in(uow, number)


def show_in(uow: UnitOfWork, number: int) -> dict[str, Any]:
    """`show` in the caller's unit of work (a signed read: services/reads.py)."""
    found = uow.repo.deviations(number=number)
    if not found:
        raise NotFound(f"no deviation {number}: see `bmac deviation list`")
    case_id = found[0].case_id
    for item in of_case(uow, case_id):
        if item["deviation"] == number:
            return item
    raise NotFound(
        f"deviation {number} is not in the log of case {case_id}: run `bmac audit verify`"
    )


def close(
    number: int,
    root_cause: str,
    action: str,
    by: Credentials,
    clock: Clock,
    db: Database,
    at: str | None = None,
    late_reason: str | None = None,
) -> Change:
    """Close a deviation (qa or surgeon, not the overrider): a signed entry of its case (late
    like any entry: `--late-reason` when logged after the fact)."""
    texts = {}
    for option, value in (("--root-cause", root_cause), ("--action", action)):
        if not value or not value.strip():
            raise InvalidData(f"{option} is empty: say what went wrong and what was done")
        refuse_rrn(value, option)
        texts[option] = value.strip()
    signed = sign_in(by, clock(), db)
    now = command_time(clock, db, signed.registry)
    try:
        with db.write() as uow:
            found = uow.repo.deviations(number=number)
            if not found:
                raise NotFound(f"no deviation {number}: see `bmac deviation list`")
            row = found[0]
            check_permitted(rules.CLOSE_DEVIATION, signed.holder.role)
            if row.closed_seq is not None:
                raise NotAllowed(
                    f"deviation {number} was closed by entry {row.closed_seq} of case "
                    f"{row.case_id}: `bmac deviation show {number}`"
                )
            if row.opened_by == signed.holder.id:
                raise NotPermitted(
                    f"deviation {number} was opened by {row.opened_by}'s own override: qa or "
                    "another surgeon closes it"
                )
            loaded = load_case(uow.repo, row.case_id, lock=True)
            if loaded is None:
                raise NotFound(f"no case {row.case_id}: run `bmac audit verify`")
            case, protocol = loaded
            clinical = clinical_time(at, case, now)
            late = lateness.minutes_late(clinical, now, protocol)
            late_reason = lateness.checked_reason(late, late_reason, protocol)
            position = record(signed, now, uow) or signed.registry.length
            signer = signed.signer(Meaning.REVIEWED)
            entry = Entry(
                case_id=case.case_id,
                seq=case.version + 1,
                action=rules.CLOSE_DEVIATION,
                from_state=case.state,
                to_state=case.state,
                at=iso(clinical),
                recorded_at=iso(now),
                signer=signer.signature,
                data={
                    "deviation": row.seq,
                    "root_cause": texts["--root-cause"],
                    "corrective_action": texts["--action"],
                },
                prev_hash=case.head_hash,
                registry=position,
                quality=uow.repo.quality_length(),
                minutes_late=late,
                late_reason=late_reason,
            )
            return commit(uow, case, signed_entry(entry, signer), protocol)
    except BmacError:
        record_alone(signed, now, db)
        raise
