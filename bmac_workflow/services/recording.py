"""What every writing use case shares: the clinical time of an entry, and the commit of an
entry together with the case (and worklist) it leads to, in the caller's unit of work."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .. import deviations, rules
from ..errors import Conflict, InvalidData, RecordAltered
from ..gates import entry_materials
from ..protocol import Protocol
from ..record import (
    SIGNED_PREFIX,
    CaseSnapshot,
    Entry,
    apply,
    digest,
    restore,
)
from ..settings import in_force
from ..states import FOLLOW_UP, workflow
from ..timeutil import from_iso, local, parse_at

if TYPE_CHECKING:
    from ..registry import Registry
    from ..store.database import Database
    from ..store.repository import Repository
    from ..store.unit_of_work import UnitOfWork
    from .registry import Signer

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Change:
    """What a writing command did: the case after it and the entry it appended."""

    case: CaseSnapshot
    entry: Entry


# Every field of an entry a writer may leave out, with its default.
_ENTRY_DEFAULTS = {
    name: spec.default
    for name, spec in Entry.__dataclass_fields__.items()
    if spec.default is not MISSING
}


def new_entry(**fields: Any) -> Entry:
    """`Entry(**fields)` without the frozen `__init__`'s field-by-field assignment (the step
    commit makes one at every step); unknown or missing fields still go through it."""
    return restore(Entry, {**_ENTRY_DEFAULTS, **fields})


def signed_entry(entry: Entry, signer: Signer, verifier: Signer | None = None) -> Entry:
    """`entry` with its signer's signature over its content (and its verifier's)."""
    _, signatures = _signed(entry, signer, verifier)
    return _with(entry, signatures)


def signed_body(entry: Entry, signer: Signer, verifier: Signer | None = None) -> tuple[Entry, str]:
    """`signed_entry`, and the entry's canonical body (`Entry.body()`) made from the content
    it signed rather than serialised again: canonical JSON sorts the keys, so the signatures
    go right before the top-level signer, its last `,"signer":{` (nothing after it, the state
    and the verifier's fields, holds one; quotes inside strings are escaped)."""
    content, signatures = _signed(entry, signer, verifier)
    text = content[len(SIGNED_PREFIX) :].decode("utf-8")
    at = text.rfind(',"signer":{')
    body = text[:at] + ',"signatures":' + _signatures_text(signatures) + text[at:]
    return _with(entry, signatures), body


def _signatures_text(signatures: dict[str, str]) -> str:
    """`canonical(signatures)` without the JSON encoder: the names (signer, verifier) and the
    base64 values have nothing to escape; sorted, as canonical JSON sorts them."""
    members = [f'"{name}":"{value}"' for name, value in sorted(signatures.items())]
    return "{" + ",".join(members) + "}"


def _with(entry: Entry, signatures: dict[str, str]) -> Entry:
    # `dataclasses.replace` would check every field of the entry anew, at every step.
    return restore(Entry, {**entry.__dict__, "signatures": signatures})


def _signed(entry: Entry, signer: Signer, verifier: Signer | None) -> tuple[bytes, dict[str, str]]:
    """The entry's signed content and its signatures over it."""
    content = entry.content()
    signatures = {"signer": signer.sign(content)}
    if verifier is not None:
        signatures["verifier"] = verifier.sign(content)
    return content, signatures


def load_case(
    repo: Repository, case_id: int, lock: bool = False
) -> tuple[CaseSnapshot, Protocol] | None:
    found = repo.get_case(case_id, lock=lock)
    if found is None:
        return None
    case, protocol = found[0], repo.protocol(found[1])
    if protocol.sha256 != case.protocol_sha256:
        # The rules come from the content the case was opened under, never from a row that
        # was moved or edited since: nothing goes on under other rules.
        raise RecordAltered(
            f"case {case_id} is stored under another protocol than the one it was opened under "
            f"({case.protocol_version}): nothing was done; an auditor runs `bmac audit verify`"
        )
    return case, protocol


def command_time(clock: Clock, db: Database, registry: Registry) -> datetime:
    """The time a writing command records: on PostgreSQL the database server's, refused (exit
    5, nothing written) when this workstation's clock differs from it by more than the site
    setting `max_clock_skew_minutes`; on SQLite, where there is no server, the workstation's."""
    workstation = clock()
    server = db.server_time()
    if server is None:
        return workstation
    bound = in_force(registry.settings)["max_clock_skew_minutes"]
    skew = rules.minutes_between(server, workstation)
    if abs(skew) > bound:
        raise InvalidData(
            f"this workstation's clock is {abs(skew):.1f} min "
            f"{'ahead of' if skew > 0 else 'behind'} the database server's (the site allows "
            f"{bound} min): set the clock right and log again; nothing was written"
        )
    return server


def clinical_time(at: str | None, case: CaseSnapshot | None, now: datetime) -> datetime:
    """The clinical time of an entry: now, or `--at` if it is not in the future; never before
    the case's previous entry (with `--at` or without: a clock set back is refused too)."""
    value = now if at is None else parse_at(at)
    if value > now:
        raise InvalidData(f"--at {at} is in the future: an entry records what already happened")
    if case is not None and value < from_iso(case.last_at):
        given = f"--at {at}" if at is not None else f"this workstation's time ({local(now)})"
        raise InvalidData(
            f"{given} is before the case's previous entry ({local(case.last_at)}): entries stay "
            "in order; check the time (and the clock)"
        )
    return value


def commit(
    uow: UnitOfWork,
    case: CaseSnapshot | None,
    entry: Entry,
    protocol: Protocol,
    body: str | None = None,
) -> Change:
    """Append `entry` (its canonical `body`, when the caller has it: `signed_body`), write the
    case it leads to (and its worklist), and commit."""
    body = entry.body() if body is None else body
    entry_hash = digest(body)
    after = apply(case, entry, entry.data, entry_hash)
    if case is None:
        uow.repo.append(entry)
        uow.repo.save_case(after, case)
    else:
        uow.repo.append_and_save(entry, body, entry_hash, after, case)
    if FOLLOW_UP in (after.state, case.state if case else None):
        # Only entering, staying in or leaving follow-up changes which visits are due.
        uow.repo.set_due_visits(after.case_id, rules.due_rows(after, protocol))
    note_quality(uow, entry)
    uow.commit()
    return Change(after, entry)


def note_quality(uow: UnitOfWork, entry: Entry) -> None:
    """Keep the caches of the quality records in line with an appended entry: the kit lots and
    devices it names (`bmac trace`), the deviation it opens or closes."""
    if entry.action != "correct":
        step = workflow().by_trigger.get(entry.action)
        found = entry_materials(step, entry, entry.data)
        if found:
            uow.repo.add_materials(found)
    kind = deviations.opened_by(entry)
    if kind is not None:
        uow.repo.open_deviation(entry.case_id, entry.seq, kind, entry.at, entry.signer.id)
    elif entry.action == deviations.CLOSE_DEVIATION:
        uow.repo.close_deviation(entry.case_id, entry.data["deviation"], entry.seq)


def changed_under_you(
    repo: Repository, case: CaseSnapshot, otherwise: Conflict | None = None
) -> Conflict:
    """Exit 7, naming who logged what first and when (local time, the moment it was logged);
    `otherwise` when nobody did (the database was busy, say)."""
    newer = [e for e, _ in repo.entries(case.case_id) if e.seq > case.version]
    if not newer:
        return otherwise or Conflict(
            f"case {case.case_id} changed under you: check `bmac case status {case.case_id}`"
        )
    first = newer[0]
    return Conflict(
        f"case {case.case_id} changed under you: {first.signer.id} logged {first.action} at "
        f"{local(first.recorded_at)}; check `bmac case status {case.case_id}`"
    )
