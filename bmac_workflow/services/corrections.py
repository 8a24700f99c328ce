"""Corrections: a new entry that points at the entry it corrects, with who, when and why.

The original entry is never touched. The corrected data is validated by the same step model as
the original, what depends on it is re-derived (the concentration factor, an assessment's
wording), and the case row is re-saved from a replay of the whole log. A correction that would
change the case's path (its candidacy or insurance eligibility, its knee, its patient, the
specimen's identity once injected, a signature, the follow-up schedule) is refused: that is a
new case, not a correction (correction_rules.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from .. import lateness, rules, text_policy
from ..correction_rules import changes_for, later_entries, refuse_path_change
from ..errors import BmacError, InvalidData, NotFound, NotPermitted
from ..gates import case_materials
from ..record import CaseSnapshot, Entry, Meaning, effective_data, replay
from ..roles import SURGEON, check_permitted
from ..timeutil import iso
from .recording import (
    Clock,
    changed_under_you,
    clinical_time,
    command_time,
    load_case,
    note_quality,
    signed_entry,
)
from .signing import Credentials, record, record_alone, sign_in

if TYPE_CHECKING:
    from ..store.database import Database

NO_DATA = {"cancel", "close", "correct", "close_deviation"}


@dataclass(frozen=True)
class Correction:
    """The case after the correction and the entries appended (the correction, then any
    re-derivation it caused)."""

    case: CaseSnapshot
    entries: list[Entry]


def parse_settings(settings: list[str]) -> dict[str, str]:
    """`field=value` pairs as typed (`aspirate-ml=62` and `aspirate_ml=62` are the same)."""
    result: dict[str, str] = {}
    for item in settings:
        name, sep, value = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name:
            raise InvalidData(
                f"--set {text_policy.shown(item)}: write field=value, e.g. --set aspirate_ml=62"
            )
        if name in result:
            raise InvalidData(
                f"--set {name} is given twice ({result[name]!r} and {value.strip()!r}): give "
                "each field once"
            )
        result[name] = value.strip()
    if not result:
        raise InvalidData("give at least one --set field=value to correct")
    return result


def correct(
    case_id: int,
    seq: int,
    settings: dict[str, str],
    reason: str,
    signer: Credentials,
    at: str | None,
    clock: Clock,
    db: Database,
    late_reason: str | None = None,
) -> Correction:
    """Correct fields of entry `seq` of a case, checked in the README's order of checks."""
    with db.read() as uow:
        expected = uow.repo.case_version(case_id)
    signed = sign_in(signer, clock(), db)
    now = command_time(clock, db, signed.registry)
    try:
        with db.write() as uow:
            found = load_case(uow.repo, case_id, lock=True)
            if found is None:
                raise NotFound(f"no case {case_id}: see `bmac case list`")
            case, protocol = found
            check_permitted("correct", signed.holder.role)
            position = record(signed, now, uow) or signed.registry.length
            operator = signed.holder
            if expected is not None and case.version != expected:
                raise changed_under_you(uow.repo, replace(case, version=expected))
            log = [entry for entry, _ in uow.repo.entries(case_id)]
            target = _target(log, seq, case_id)
            current = effective_data(log)
            refuse_path_change(target, settings, case_id, log)
            if not reason.strip():
                raise InvalidData("--reason is required: say why the entry was wrong")
            text_policy.check(reason, "--reason", text_policy.TEXT_FIELD)
            changes = changes_for(target, current, settings, log, protocol)
            derived = later_entries(log, current, target.seq, changes, protocol)
            if target.signer.id != operator.id and operator.role != SURGEON:
                raise NotPermitted(
                    f"entry {seq} was signed by {target.signer.id}: only they or a surgeon may "
                    "correct it"
                )
            if "specimen_id" in changes and uow.repo.case_with_specimen(changes["specimen_id"]):
                raise InvalidData(
                    f"specimen ID {changes['specimen_id']} is already used by another case: "
                    "scan the label again"
                )
            when = clinical_time(at, case, now)
            late = lateness.minutes_late(when, now, protocol)
            late_reason = lateness.checked_reason(late, late_reason, protocol)
            clinical = iso(when)
            plan = [(target.seq, changes, reason)]
            for later, values in derived:
                why = f"re-derived after the correction of entry {seq}"
                plan.append((later, values, why))
            added: list[Entry] = []
            head = case.head_hash
            for corrected, values, why in plan:
                entry = Entry(
                    case_id=case_id,
                    seq=case.version + len(added) + 1,
                    action="correct",
                    from_state=case.state,
                    to_state=case.state,
                    at=clinical,
                    recorded_at=iso(now),
                    signer=signed.signer(Meaning.CORRECTED).signature,
                    data={
                        "entry": corrected,
                        "changes": values,
                        "previous": {k: current[corrected].get(k) for k in values},
                    },
                    prev_hash=head,
                    reason=why,
                    corrects=corrected,
                    registry=position,
                    minutes_late=late,
                    late_reason=late_reason,
                )
                entry = signed_entry(entry, signed.signer(Meaning.CORRECTED))
                head = uow.repo.append(entry)
                added.append(entry)
            after = replay([*log, *added])
            assert after is not None
            after = replace(after, head_hash=head)
            uow.repo.save_case(after, case)
            # A corrected injection time or visit name moves the worklist: always rewritten.
            uow.repo.set_due_visits(case_id, rules.due_rows(after, protocol))
            # A corrected kit lot or device moves the trace: rewritten from the log as corrected.
            uow.repo.set_materials(case_id, case_materials([*log, *added]))
            for entry in added:
                note_quality(uow, entry)
            uow.commit()
        return Correction(after, added)
    except BmacError:
        record_alone(signed, now, db)
        raise


def _target(log: list[Entry], seq: int, case_id: int) -> Entry:
    found = [entry for entry in log if entry.seq == seq]
    if not found:
        raise InvalidData(
            f"--entry {seq}: case {case_id} has no such entry; `bmac case timeline {case_id}` "
            "lists them"
        )
    entry = found[0]
    if entry.action == "correct":
        raise InvalidData(
            f"entry {seq} is itself a correction: correct entry {entry.corrects} again instead"
        )
    if entry.action in NO_DATA:
        raise InvalidData(f"entry {seq} ({entry.action}) records no step data to correct")
    return entry
