"""THE declaration of each step of the workflow, one entry each.

A step's declaration holds its trigger, the state it leaves and the one it enters, who may take
it, what the signature means, the command a person types, its data model, its FHIR processing
label, the stage its waiting state is shown as, and whether the harvest-to-injection window runs
while a case waits for it. The machine (states.py), the role matrix (roles.py), the CLI's step
commands, status and next step, colours, FHIR, the demo, the tests' walks and the benchmark
generator all derive from this list: adding a step is one declaration here and one data model in
step_data.py (docs/adding-a-step.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from . import facts
from .guards import (
    CANDIDATE_OR_OVERRIDE,
    DEVICE_READY,
    FOLLOW_UP_DONE,
    KNEE_MATCHES,
    LOT_NOT_HELD,
    NO_OPEN_DEVIATION,
    SECOND_PERSON,
    SPECIMEN_MATCHES,
    VISIT_NOT_RECORDED,
    WITHIN_WINDOW,
    Guard,
)
from .record import Meaning
from .roles import CLINICAL, SURGEON
from .states import (
    CANCELLED,
    CLOSED,
    FOLLOW_UP,
    IMAGING_ASSESSMENT,
    INELIGIBLE,
    INJECTION,
    MARROW_COLLECTION,
)

if TYPE_CHECKING:
    from .guards import Request
    from .step_data import StepData

# The states a case waits in between the harvest and the injection, named by their steps.
FILTERING = "filtering"
CENTRIFUGATION = "centrifugation"
PLASMA_REMOVAL = "plasma_removal"
CONCENTRATION = "concentration"

# Display stages of the state a step leaves (colours; states.py names the stages of the ends).
ASSESSMENT_STAGE, PROCESSING_STAGE, FOLLOW_UP_STAGE = "assessment", "processing", "follow-up"


@dataclass(frozen=True)
class Before:
    """Every state of the workflow that comes before `state` (cancel's sources)."""

    state: str


Prepare = Callable[["facts.Attempt"], "tuple[dict[str, Any], Request]"]


@dataclass(frozen=True)
class Step:
    """One trigger of the workflow, declared once: everything else derives from this."""

    trigger: str
    source: str | Before
    dest: str
    roles: frozenset[str]
    meaning: str
    command: str  # after `bmac`: "step centrifugation"
    summary: str  # the command's help, first line
    # The step's data model: a class, or the name of one in step_data.py (named, so that a
    # command that only lists or reads the workflow does not load pydantic).
    data: type[StepData] | str | None = None
    fhir: str | None = None  # FHIR Specimen.processing label: a processing step of the specimen
    stage: str = PROCESSING_STAGE
    window_running: bool = False  # the harvest-to-injection window runs while a case waits
    guards: tuple[Guard, ...] = ()
    otherwise: str | None = None  # where the trigger goes when one of `guards` does not hold
    prepare: Prepare = facts.plain
    reason: str | None = None  # the help of the step's --reason option, if it takes one
    reason_required: bool = False
    reason_example: str = ""
    # A refusal by one of `guards` is kept, signed, in the refusals log (refusal.py).
    refusals_logged: bool = False

    @property
    def group(self) -> str:
        """The command group the step's command lives in (`step`, `case`, `followup`)."""
        return self.command.split()[0]

    @property
    def name(self) -> str:
        """The step's command name within its group (`centrifugation`)."""
        return self.command.split()[1]

    @cached_property
    def model(self) -> type[StepData] | None:
        """The step's data model (step_data.py), loaded when first needed."""
        if isinstance(self.data, str):
            from . import step_data

            found: type[StepData] = getattr(step_data, self.data)
            return found
        return self.data

    @cached_property
    def guard_names(self) -> frozenset[str]:
        """The names of the step's guards (the gates ask which they hold, for every entry)."""
        return frozenset(guard.name for guard in self.guards)

    @cached_property
    def material_fields(self) -> tuple[tuple[str, str], ...]:
        """(field, "lot" or "device") of each field of the step's data naming a kit lot or a
        device (`bmac trace`, the quality gates); asked of every entry the audit re-runs."""
        if self.model is None:
            return ()
        from .step_data import material_fields

        return tuple(material_fields(self.model).items())

    @cached_property
    def derives(self) -> bool:
        """Whether the step's data holds values computed from others (`StepData.derived`),
        which the audit computes again."""
        from .step_data import StepData

        base = StepData.derived.__func__  # type: ignore[attr-defined]
        return self.model is not None and self.model.derived.__func__ is not base  # type: ignore[attr-defined]

    @cached_property
    def gated(self) -> bool:
        """Whether the quality gates (gates.py) can change what the step records or decides:
        it names a lot or a device, or has a gate's guard."""
        from .guards import LOT_NOT_HELD, NO_OPEN_DEVIATION

        return bool(
            self.material_fields or {LOT_NOT_HELD.name, NO_OPEN_DEVIATION.name} & self.guard_names
        )

    @cached_property
    def verifier_field(self) -> str | None:
        """The field naming the second person who signs the step with their own PIN."""
        if self.model is None:
            return None
        from .step_data import option_meta

        found = [n for n in self.model.model_fields if option_meta(self.model, n).verifier]
        return found[0] if found else None

    def has_verifier(self) -> bool:
        """True when a second person signs the step with their own PIN (the injection)."""
        return self.verifier_field is not None

    def matrix_commands(self) -> str:
        """The commands this step covers, as the role matrix prints them."""
        overridable = self.model is not None and "override_reason" in self.model.model_fields
        return self.command + (" (and --override-reason)" if overridable else "")


STEPS: tuple[Step, ...] = (
    Step(
        "assess",
        IMAGING_ASSESSMENT,
        MARROW_COLLECTION,
        frozenset({SURGEON}),
        Meaning.ASSESSED,
        "case assess",
        "Record the imaging assessment (surgeon): candidate, ineligible, or overridden.",
        data="AssessmentData",
        stage=ASSESSMENT_STAGE,
        guards=(CANDIDATE_OR_OVERRIDE,),
        otherwise=INELIGIBLE,
        prepare=facts.assessment,
    ),
    Step(
        "collect",
        MARROW_COLLECTION,
        FILTERING,
        CLINICAL,
        Meaning.PERFORMED,
        "step collection",
        "Log the bone marrow harvest from the iliac crest.",
        data="CollectionData",
        guards=(LOT_NOT_HELD,),
    ),
    Step(
        "filter",
        FILTERING,
        CENTRIFUGATION,
        CLINICAL,
        Meaning.PERFORMED,
        "step filtering",
        "Log the filtering of the aspirate.",
        data="FilteringData",
        fhir="filtering",
        window_running=True,
        guards=(LOT_NOT_HELD,),
    ),
    Step(
        "centrifuge",
        CENTRIFUGATION,
        PLASMA_REMOVAL,
        CLINICAL,
        Meaning.PERFORMED,
        "step centrifugation",
        "Log the centrifugation (give --g-force or --rpm).",
        data="CentrifugationData",
        fhir="centrifugation",
        window_running=True,
        guards=(LOT_NOT_HELD, DEVICE_READY),
    ),
    Step(
        "remove_plasma",
        PLASMA_REMOVAL,
        CONCENTRATION,
        CLINICAL,
        Meaning.PERFORMED,
        "step plasma-removal",
        "Log the removal of the plasma and red-cell layers.",
        data="PlasmaRemovalData",
        fhir="plasma and red-cell layer removal",
        window_running=True,
        guards=(LOT_NOT_HELD,),
    ),
    Step(
        "concentrate",
        CONCENTRATION,
        INJECTION,
        CLINICAL,
        Meaning.PERFORMED,
        "step concentration",
        "Log the concentrate drawn; the concentration factor is computed.",
        data="ConcentrationData",
        fhir="concentration",
        window_running=True,
        guards=(LOT_NOT_HELD,),
    ),
    Step(
        "inject",
        INJECTION,
        FOLLOW_UP,
        frozenset({SURGEON}),
        Meaning.PERFORMED,
        "step injection",
        "Log the injection into the knee (surgeon, verified by a second operator).",
        data="InjectionData",
        window_running=True,
        guards=(LOT_NOT_HELD, SPECIMEN_MATCHES, KNEE_MATCHES, SECOND_PERSON, WITHIN_WINDOW),
        prepare=facts.injection,
        refusals_logged=True,
    ),
    Step(
        "record_follow_up",
        FOLLOW_UP,
        FOLLOW_UP,
        CLINICAL,
        Meaning.PERFORMED,
        "followup record",
        "Record a follow-up visit.",
        data="FollowUpData",
        stage=FOLLOW_UP_STAGE,
        guards=(VISIT_NOT_RECORDED,),
        prepare=facts.follow_up,
    ),
    Step(
        "cancel",
        Before(FOLLOW_UP),
        CANCELLED,
        frozenset({SURGEON}),
        Meaning.CANCELLED,
        "case cancel",
        "Cancel a case before the injection (surgeon), with a reason.",
        prepare=facts.cancellation,
        reason="Why the case stops.",
        reason_required=True,
        reason_example="patient withdrew consent",
    ),
    Step(
        "close",
        FOLLOW_UP,
        CLOSED,
        frozenset({SURGEON}),
        Meaning.PERFORMED,
        "case close",
        "Close a case in follow-up (surgeon).",
        stage=FOLLOW_UP_STAGE,
        guards=(NO_OPEN_DEVIATION, FOLLOW_UP_DONE),
        prepare=facts.closing,
        reason="Needed to close before the follow-up is finished.",
        reason_example="lost to follow-up",
    ),
)


def insert_after(steps: Sequence[Step], trigger: str, new: Step) -> tuple[Step, ...]:
    """The declarations with `new` placed after the step `trigger`, which now leads to `new`'s
    source; `new` leads where `trigger` led. What adding a step to STEPS by hand amounts to."""
    result: list[Step] = []
    for step in steps:
        if step.trigger == trigger:
            if not isinstance(new.source, str):
                raise ValueError("a step inserted in the chain leaves one state")
            result += [replace(step, dest=new.source), replace(new, dest=step.dest)]
        else:
            result.append(step)
    if len(result) == len(steps):
        raise ValueError(f"no step {trigger!r} to insert after")
    return tuple(result)


def example_values(step: Step, specimen_id: str | None = None) -> dict[str, Any]:
    """What a person would type for `step` on a happy case (its model's example), with the
    case's own specimen label where the step records or scans one."""
    if step.model is None:
        return {}
    values = dict(step.model.example)
    if specimen_id is not None and "specimen_id" in values:
        values["specimen_id"] = specimen_id
    return values
