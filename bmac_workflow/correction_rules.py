"""What a correction may change, and what it changes besides: the rules behind `case correct`.

A correction fixes what was written wrong; it never changes the case's path. The corrected data
goes through the same step model as the original, the later steps' data is checked again
against it (the volume chain), and what is computed from it is computed again.
"""

from __future__ import annotations

import typing
from typing import Any

from . import rules
from .errors import InvalidData, NotAllowed
from .protocol import Protocol
from .record import VOLUME_SUFFIX, Entry
from .states import FOLLOW_UP, workflow
from .step_data import StepData, validate

# Fields whose correction would change the case's path, and the way forward for each.
PATH: dict[str, dict[str, str]] = {
    "open": {
        "knee": "the knee is what the case is about: {new_case}",
        "patient_ref": "the patient reference says whose case this is: {new_case}",
    },
    "inject": {
        "knee": "the injection must be in the case's knee; an injection into the other knee is "
        "a clinical incident: report it, it cannot be corrected here",
        "specimen_id": "the scanned specimen ID is the chain of identity and cannot be corrected",
        "verifier_id": "the verifier signed with their own PIN; a signature cannot be corrected",
    },
    "record_follow_up": {
        "visit": "the visit decides the follow-up schedule: record the right visit with "
        "`bmac followup record {case} --visit ...` and correct this one's notes",
        "arthroplasty": "arthroplasty ends the follow-up: a surgeon closes the case with "
        "`bmac case close {case} --reason ...`",
    },
}

Current = dict[int, dict[str, Any]]


def model_of(action: str) -> type[StepData] | None:
    """The data model of the entries of `action`, if they record step data."""
    step = workflow().by_trigger.get(action)
    return step.model if step else None


def refuse_path_change(
    target: Entry, settings: dict[str, str], case_id: int, log: list[Entry]
) -> None:
    """Refuse (exit 4) a field whose correction would change the case's path, with the way
    forward; the assessment's outcome is checked once its new data is known (`changes_for`)."""
    injected = any(e.action == "inject" for e in log)
    for name in settings:
        why = PATH.get(target.action, {}).get(name)
        if target.action == "collect" and name == "specimen_id" and injected:
            why = "the specimen was injected under this ID (chain of identity): it stays"
        if name == "override_reason" and not (
            target.data.get("override_reason") and settings[name]
        ):
            why = (
                "an override is decided when the step is signed; it can be reworded, not "
                "added or withdrawn afterwards: {new_case}"
            )
        if why:
            raise NotAllowed(
                f"correcting {name} of entry {target.seq} would change the case's path: "
                + why.format(case=case_id, new_case=way_forward(case_id, log[-1].to_state))
            )


def changes_for(
    target: Entry, current: Current, settings: dict[str, str], log: list[Entry], protocol: Protocol
) -> dict[str, Any]:
    """The new values of every field that differs, the re-derived ones included (exit 5)."""
    action = target.action
    model = model_of(action)
    if model is None:
        raise InvalidData(
            f"entry {target.seq} ({action}) has no correctable fields besides the case's own"
        )
    computed = model.computed
    for name in settings:
        if name in computed:
            raise InvalidData(f"{name} is computed: correct the values it is computed from")
        if name not in model.model_fields:
            fields = ", ".join(sorted(model.model_fields))
            raise InvalidData(f"{action} entries have no field {name!r}; correctable: {fields}")
    before = current[target.seq]
    raw = {k: v for k, v in before.items() if k not in computed}
    for name, text in settings.items():
        raw[name] = _typed(model.model_fields[name].annotation, text)
    raw = {k: v for k, v in raw.items() if v is not None}
    volumes = volumes_before(log, current, target.seq)
    data = validate(model, raw, protocol, volumes).record()
    if action == "assess":
        data.update(_reassess(target, before, data, protocol, log[-1].to_state))
    data.update(model.derived(data, volumes))
    # What only the moment of signing decides (the minutes since the harvest) stays as signed.
    data.update({k: before[k] for k in computed if k not in data and k in before})
    changes = {k: data.get(k) for k in {*before, *data} if data.get(k) != before.get(k)}
    if not changes:
        raise InvalidData(f"entry {target.seq} already records these values: nothing to correct")
    return changes


def _typed(annotation: Any, text: str) -> Any:
    """A typed value from the CLI's text; lists are comma-separated, empty clears a field."""
    if text == "":
        return None
    if typing.get_origin(annotation) is list:
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


def way_forward(case_id: int, state: str) -> str:
    """What to do instead of a correction that would change the case's path."""
    states = workflow().states
    if state in states[: states.index(FOLLOW_UP)]:
        return f"cancel this case (`bmac case cancel {case_id} --reason ...`) and open a new one"
    return (
        "the case is past its injection and keeps the path it took: report the error through "
        "the clinic's incident process"
    )


def _reassess(
    target: Entry, before: dict[str, Any], data: dict[str, Any], protocol: Protocol, state: str
) -> dict[str, Any]:
    outcome = rules.assess(
        data["kl_grade"], data["icrs_grade"], data["imaging"], data["leg_deformity"], protocol
    )
    override = data.get("override_reason")
    insurance = outcome.insurance_eligible and not override
    if (
        outcome.candidate != before.get("candidate")
        or insurance != before.get("insurance_eligible")
        or bool(override) != bool(before.get("overridden"))
    ):
        raise NotAllowed(
            f"this correction of entry {target.seq} would change the assessment's outcome "
            f"({'candidate' if outcome.candidate else 'not a candidate'}, insurance "
            f"{'eligible' if insurance else 'not eligible'}), which is the case's path: "
            + way_forward(target.case_id, state)
        )
    return {
        "candidate": outcome.candidate,
        "reason": outcome.reason,
        "insurance_eligible": insurance,
        "insurance_basis": before["insurance_basis"] if override else outcome.insurance_basis,
        "overridden": bool(override),
    }


def volumes_before(log: list[Entry], current: Current, seq: int) -> dict[str, float]:
    """The volumes the steps before entry `seq` recorded (corrections applied)."""
    volumes: dict[str, float] = {}
    for entry in log:
        if entry.seq >= seq:
            break
        if entry.action != "correct":
            data = current[entry.seq]
            volumes.update({k: v for k, v in data.items() if k.endswith(VOLUME_SUFFIX)})
    return volumes


def later_entries(
    log: list[Entry], current: Current, seq: int, changes: dict[str, Any], protocol: Protocol
) -> list[tuple[int, dict[str, Any]]]:
    """After correcting entry `seq` with `changes`: check every later step's data still holds
    (the volume chain, exit 5), and return the re-derived values that now differ, per entry."""
    after = {**current, seq: {**current[seq], **changes}}
    rederived = []
    for entry in log:
        model = model_of(entry.action)
        if entry.seq <= seq or entry.action == "correct" or model is None:
            continue
        data = after[entry.seq]
        volumes = volumes_before(log, after, entry.seq)
        typed = {k: v for k, v in data.items() if k not in model.computed}
        try:
            validate(model, typed, protocol, volumes)
        except InvalidData as exc:
            rule = "" if "never grow" in exc.message else "; volumes never grow along the chain"
            raise InvalidData(
                f"after this correction entry {entry.seq} ({entry.action}) would not hold: "
                f"{exc.message}{rule}: correct both entries, the larger first"
            ) from None
        derived = model.derived(data, volumes)
        differs = {k: v for k, v in derived.items() if data.get(k) != v}
        if differs:
            rederived.append((entry.seq, differs))
    return rederived
