"""The audit's re-run of one case's log through the workflow, pure: every entry is taken again
from the state the entries before it left, by whom the registry says signed it (with the role
and key they held then, entry_signatures.py), under the case's own protocol, through the same
guards and rules the services apply (facts.py, `Workflow.decide`). An entry the workflow would
have refused, or whose recorded outcome the rules do not give, or whose signatures are not its
signers', is a problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from . import deviations, lateness
from .checks import Problem
from .entry_signatures import signature_problems
from .errors import BmacError
from .facts import Attempt, Person
from .gates import Gates, case_materials, entry_materials, gate
from .guards import NO_OPEN_DEVIATION
from .protocol import Protocol
from .quality import Quality
from .record import CaseSnapshot, Entry, Meaning, apply, fold
from .registry import Registry
from .roles import OPEN, SURGEON, VERIFY_INJECTION, allowed_roles
from .states import INITIAL, workflow
from .steps import Step
from .timeutil import from_iso

NO_DATA = ("cancel", "close", "correct", "close_deviation")


@dataclass(frozen=True)
class Scope:
    """How much of a case the re-run checks. Its first `reviewed` entries were found right
    (signatures, signers and roles, rules) by the audit an auditor's signed checkpoint records,
    and the checkpoint's head hash, compared apart, proves them unchanged since: they are
    folded, not checked again. `bodies` are the entries' stored texts, in order, from which the
    signed content is cut (`content_of_body`)."""

    reviewed: int = 0
    bodies: list[str] | None = None


class Rerun(NamedTuple):
    """What re-running a case's log found: its problems, the case it leads to (as
    `record.replay` folds it; None when the log does not replay), and, from the same fold,
    the lots and devices its steps used (as corrected) and its deviations, which the audit
    compares with their caches (cache_checks.py)."""

    problems: list[Problem]
    snapshot: CaseSnapshot | None
    materials: set[tuple[Any, ...]]
    deviations: list[deviations.Deviation]


@dataclass
class _Trail:
    """What the gates of the next entry depend on besides the case: the lots and devices the
    case used so far, its deviations, and the quality log position its last entry named; and
    the case's clinical times, each read once (an entry's time is the next one's previous)."""

    used: set[tuple[Any, ...]] = field(default_factory=set)
    lots: frozenset[str] = frozenset()
    deviations: dict[int, deviations.Deviation] = field(default_factory=dict)
    position: int = 0
    times: dict[str, datetime] = field(default_factory=dict)

    def time(self, text: str) -> datetime:
        found = self.times.get(text)
        if found is None:
            found = self.times[text] = from_iso(text)
        return found

    def gates(self, entry: Entry, step: Step, quality: Quality) -> Gates | None:
        if entry.quality is None or not step.gated:
            return None
        labels: tuple[str, ...] = ()
        if NO_OPEN_DEVIATION.name in step.guard_names:
            labels = tuple(d.label() for d in self.deviations.values() if d.open)
        return Gates(quality, entry.quality, self.lots, labels)

    def fold(self, entries: list[Entry], index: int, step: Step | None) -> None:
        """Take in the materials and deviations of `entries[index]`."""
        entry = entries[index]
        if entry.action == "correct":
            self.used = case_materials(entries[: index + 1])
            self.lots = frozenset(r[3] for r in self.used if r[2] == "lot")
        elif step is not None and step.material_fields:
            found = entry_materials(step, entry, entry.data)
            self.used.update(found)
            self.lots |= {r[3] for r in found if r[2] == "lot"}
        deviations.step(self.deviations, entry)
        if entry.quality is not None:
            self.position = max(self.position, entry.quality)


def rerun(
    case_id: int,
    entries: list[Entry],
    registry: Registry,
    protocol: Protocol,
    scope: Scope,
    quality: Quality | None = None,
) -> Rerun:
    """Every problem in the case's log, and what it leads to. The lot holds and device gates
    are re-run on `quality` (the quality log, verified) as it stood at the position each entry
    names."""
    problems: list[Problem] = []
    snapshot: CaseSnapshot | None = None
    seen_registry = 0
    by_seq = {entry.seq: entry for entry in entries}
    quality = quality if quality is not None else Quality()
    trail = _Trail()
    by_trigger = workflow().by_trigger
    reviewed, bodies = scope.reviewed, scope.bodies
    for index, entry in enumerate(entries):
        step = by_trigger.get(entry.action)
        if entry.seq <= reviewed:
            whys: list[str] = []
            if isinstance(entry.registry, int):
                seen_registry = entry.registry
        else:
            body = bodies[index] if bodies is not None else None
            whys, role, seen_registry = signature_problems(entry, body, registry, seen_registry)
            whys += _position(entry, trail, quality)
            whys += _rules(entry, step, role, index, snapshot, by_seq, protocol, registry,
                           (trail, quality))  # fmt: skip
        if whys:
            problems += [Problem(case_id, entry.seq, why) for why in whys]
        try:
            if entry.action == "correct":
                snapshot = fold(entries[: index + 1])
            else:
                snapshot = apply(snapshot, entry, entry.data)
            trail.fold(entries, index, step)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            what = f"the log does not replay ({type(exc).__name__}: {exc})"
            return Rerun([*problems, Problem(case_id, entry.seq, what)], None, set(), [])
    found = [trail.deviations[seq] for seq in sorted(trail.deviations)]
    return Rerun(problems, snapshot, trail.used, found)


def _position(entry: Entry, trail: _Trail, quality: Quality) -> list[str]:
    """An entry names a quality log position that existed, and no earlier one than the case's
    entries before it."""
    if entry.quality is None:
        return []
    if not isinstance(entry.quality, int) or not trail.position <= entry.quality <= quality.length:
        return ["entry names no quality log position it could have been signed at"]
    return []


def _rules(
    entry: Entry,
    step: Step | None,
    role: str,
    index: int,
    snapshot: CaseSnapshot | None,
    by_seq: dict[int, Entry],
    protocol: Protocol,
    registry: Registry,
    quality: tuple[_Trail, Quality],
) -> list[str]:
    """What the workflow and the rules say of the entry, taken from `snapshot` by `role`."""
    trail, log = quality
    try:
        at = trail.time(entry.at)
        timing = _timing(entry, at, snapshot, protocol, trail)
        if entry.action == "open":
            return timing + _opening(entry, role, index)
        if entry.action == "correct":
            return timing + _correction(entry, role, snapshot, by_seq)
        if entry.action == deviations.CLOSE_DEVIATION:
            state = snapshot.state if snapshot else None
            whys = deviations.closing_problems(entry, role, state, trail.deviations)
            if entry.signer.meaning != Meaning.REVIEWED:
                whys.append(f"signed as {entry.signer.meaning}, a closing means reviewed")
            return timing + whys
        if step is None or snapshot is None:
            return [*timing, f"{entry.action} is no step of the workflow (or comes before the "
                    "opening)"]  # fmt: skip
        gates = trail.gates(entry, step, log)
        return timing + _step(entry, step, at, role, snapshot, protocol, registry, gates)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # Data no step could have written (or a case missing what came before): a problem to
        # report, never a crash of the audit.
        return [f"the rules cannot be re-run on it ({type(exc).__name__}: {exc})"]


def _timing(
    entry: Entry, at: datetime, snapshot: CaseSnapshot | None, protocol: Protocol, trail: _Trail
) -> list[str]:
    """The clinical time is not before the case's previous entry, and an entry recorded late
    says so and why (lateness.py); for signed entries, made since both rules."""
    if entry.signatures is None:
        return []
    whys = []
    recorded = from_iso(entry.recorded_at)
    if snapshot is not None and at < trail.time(snapshot.last_at):
        whys.append(f"its clinical time is before the case's previous entry ({snapshot.last_at})")
    why = lateness.problem(at, recorded, entry.minutes_late, entry.late_reason, protocol)
    return [*whys, f"late entry: {why}"] if why else whys


def _opening(entry: Entry, role: str, index: int) -> list[str]:
    whys = []
    if index != 0 or entry.seq != 1 or entry.from_state is not None:
        whys.append("a case is opened by its first entry only")
    if entry.to_state != INITIAL:
        whys.append(f"a case opens in {INITIAL}, not {entry.to_state}")
    if role and role not in OPEN.roles:
        whys.append(f"{_a(role)} may not open a case")
    return whys


def _correction(
    entry: Entry, role: str, snapshot: CaseSnapshot | None, by_seq: dict[int, Entry]
) -> list[str]:
    state = snapshot.state if snapshot else None
    target = by_seq.get(entry.corrects or 0)
    whys = []
    if entry.from_state != state or entry.to_state != state:
        whys.append("a correction leaves the case where it was")
    if target is None or target.seq >= entry.seq or target.action in NO_DATA:
        whys.append("the correction points at no entry it may correct")
    elif role and role not in allowed_roles("correct"):
        whys.append(f"{_a(role)} may not correct")
    elif role and role != SURGEON and target.signer.id != entry.signer.id:
        whys.append(f"entry {target.seq} was signed by {target.signer.id}: only they or a surgeon")
    return whys


def _step(
    entry: Entry,
    step: Step,
    at: datetime,
    role: str,
    snapshot: CaseSnapshot,
    protocol: Protocol,
    registry: Registry,
    gates: Gates | None,
) -> list[str]:
    flow = workflow()
    if entry.from_state != snapshot.state:
        return [f"{entry.action} from {entry.from_state}, but the case was in {snapshot.state}"]
    verifier = None
    if entry.verifier is not None:
        held = registry.at(entry.verifier.id, entry.registry) if entry.registry else None
        verifier = Person(entry.verifier.id, held.role if held else entry.verifier.role, True)
        if step.verifier_field and entry.data.get(step.verifier_field) != entry.verifier.id:
            return [f"the verifier who signed is not the one the entry names ({entry.verifier.id})"]
        if verifier.role not in VERIFY_INJECTION.roles:
            verifier = Person(verifier.id, verifier.role, False)
    signer = Person(entry.signer.id, role or entry.signer.role, True)
    attempt = Attempt(snapshot, protocol, entry.data, signer, verifier, at, entry.reason, gates)
    try:
        added, request = step.prepare(attempt)
        if gates is not None:
            added, request = gate(step, attempt, added, request)
    except BmacError as exc:
        return [f"{entry.action} breaks a rule: {exc.message}"]
    data = entry.data
    whys = [
        f"{key} is recorded as {data.get(key)!r}, the rules give {value!r}"
        for key, value in added.items()
        if data.get(key) != value
    ]
    if step.derives and step.model is not None:
        derived = step.model.derived(entry.data, snapshot.volumes_ml)
        whys += [f"{k} is recorded as {entry.data.get(k)!r}, not {v!r}" for k, v in derived.items()
                 if entry.data.get(k) != v]  # fmt: skip
    meaning = Meaning.OVERRIDDEN if entry.data.get("overridden") else step.meaning
    if entry.signer.meaning != meaning:
        whys.append(f"signed as {entry.signer.meaning}, the step means {meaning}")
    decided = flow.decide(snapshot.state, entry.action, request)
    if isinstance(decided, BmacError):
        whys.append(f"{entry.action} breaks a rule: {decided.message}")
    elif decided != entry.to_state:
        whys.append(f"{entry.action} leads to {decided}, not {entry.to_state}")
    return whys


def _a(role: str) -> str:
    return f"an {role}" if role[:1] in "aeiou" else f"a {role}"
