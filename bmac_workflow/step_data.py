"""The data each step records (docs/clinical-rules.md): validated models, units in the field names.

A model is the whole description of a step's data: each field's type and physical range, the
option a person types it with (`Option`), the protocol's default range for it (`Range`), what is
computed from it, and an example a person would type. The CLI's options, the protocol's ranges,
the corrections and the demo all read it from here (steps.py names the model of each step).

Ranges come from the case's protocol and the volume chain from the case's earlier steps; both
reach the validators through pydantic's validation context. The chain: filtered <= aspirate,
plasma removed < filtered, concentrate <= what the plasma removal left (filtered - plasma
removed), injected <= concentrate. Computed values (the concentration factor) are never typed:
`extra="forbid"` refuses them, and `derived()` computes them from the volumes before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from . import text_policy
from .errors import InvalidData
from .protocol import MODALITIES

if TYPE_CHECKING:
    from .protocol import Protocol

Knee = Literal["left", "right"]
# The kinds of device a clinic registers (`bmac device add --kind`): those the steps name.
DEVICE_KINDS = ("centrifuge", "scale", "other")
Modality = Literal["xray", "mri", "arthroscopy"]
Visit = Literal["1w", "1m", "3m", "6m", "12m", "24m", "adhoc"]


@dataclass(frozen=True)
class Option:
    """How a person types a field on the command line (metadata of the field's annotation).

    `flag` defaults to `--field-name`; `negative` makes a bool a `--x/--no-x` pair; `split`
    reads a list from one value split on it; `repeat` reads a list from a repeated option;
    `verifier` marks the id of the second person, whose own PIN the command asks for;
    `hidden` is a fixed value nobody types; `material` marks a kit lot ("lot") or a device
    ("device") the step used: `bmac trace` finds cases by it, and lot holds and device gates
    look at it (quality.py).
    """

    help: str = ""
    flag: str | None = None
    metavar: str | None = None
    negative: bool = False
    split: str | None = None
    repeat: bool = False
    verifier: bool = False
    hidden: bool = False
    material: str | None = None


@dataclass(frozen=True)
class Range:
    """The protocol's default physical range of a measured value (a `[ranges]` key).

    Never change a default: a stored protocol that lacks the key relies on it. Add a key instead.
    """

    low: float
    high: float


def _not_bool(value: Any) -> Any:
    # pydantic's lax mode reads True as 1: a grade or a count is never a yes/no.
    if isinstance(value, bool):
        raise ValueError("must be a number, not yes/no")
    return value


Count = Annotated[int, BeforeValidator(_not_bool)]
# Text a person types, and its field's kind and maximum length (text_policy.py): free text (a
# reason, an adverse event), a name, or a label (an id, a lot, a device).
Text = Annotated[str, Field(min_length=1), text_policy.TEXT_FIELD]
Name = Annotated[str, Field(min_length=1), text_policy.NAME_FIELD]
Label = Annotated[str, Field(min_length=1), text_policy.ID_FIELD]


class StepData(BaseModel):
    """Base of every step's data: strict, immutable, no unknown fields."""

    # NaN and infinity pass no range check and cannot be stored in canonical JSON: refuse them.
    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, allow_inf_nan=False
    )

    # Fields the workflow computes: never typed, corrected only by re-deriving them.
    computed: ClassVar[frozenset[str]] = frozenset()
    # What a person would type for this step on a happy case (the demo, the help, the tests).
    example: ClassVar[dict[str, Any]] = {}

    def record(self) -> dict[str, Any]:
        """The JSON-ready form stored in the log entry."""
        return self.model_dump(mode="json", exclude_none=True)

    @classmethod
    def derived(cls, data: Mapping[str, Any], before: Mapping[str, float]) -> dict[str, Any]:
        """Values computed from the recorded `data` and the volumes `before` this step."""
        return {}

    @classmethod
    def outcome(cls, data: Mapping[str, Any]) -> list[str]:
        """Lines that tell the operator what the step decided (none for most steps)."""
        return []

    @model_validator(mode="after")
    def _within_ranges(self, info: ValidationInfo) -> StepData:
        # Every measured value (a field with a `Range`) within the case protocol's range.
        if info.context and "protocol" in info.context:
            _check_ranges(self, info)
        return self

    @model_validator(mode="after")
    def _text_policy(self) -> StepData:
        # Each typed text against its field's policy: length, characters, no registration
        # number. Only the text fields are visited, their values as stored (iterating the
        # model itself builds a filtered copy, half of a step's validation).
        stored = self.__dict__
        for name, policy in text_fields(type(self)).items():
            value = stored.get(name)
            for text in value if isinstance(value, list) else (value,):
                if isinstance(text, str) and not text_policy.acceptable(text, policy):
                    text_policy.check(text, option_of(type(self), name), policy)
        return self


def _policy_in(annotation: Any) -> text_policy.Field | None:
    for meta in getattr(annotation, "__metadata__", ()):
        if isinstance(meta, text_policy.Field):
            return meta
    for arg in get_args(annotation):
        found = _policy_in(arg)
        if found is not None:
            return found
    return None


@cache
def text_fields(model: type[StepData]) -> dict[str, text_policy.Field]:
    """The text fields of `model` and the policy of each (list fields: of each item)."""
    found = {}
    for name, info in model.model_fields.items():
        policy = next((m for m in info.metadata if isinstance(m, text_policy.Field)), None)
        policy = policy or _policy_in(info.annotation)
        if policy is not None:
            found[name] = policy
    return found


def option_meta(model: type[StepData], name: str) -> Option:
    """The `Option` of a field (a default one when the field declares none)."""
    for meta in model.model_fields[name].metadata:
        if isinstance(meta, Option):
            return meta
    return Option()


def option_of(model: type[StepData], name: str) -> str:
    """The CLI option a person types for field `name`, so that errors speak the user's words."""
    if name not in model.model_fields:
        return "--" + name.replace("_", "-")
    return option_meta(model, name).flag or "--" + name.replace("_", "-")


def range_of(model: type[StepData], name: str) -> Range | None:
    """The default protocol range of a field, if it is a measured value."""
    for meta in model.model_fields[name].metadata:
        if isinstance(meta, Range):
            return meta
    return None


def _protocol(info: ValidationInfo) -> Protocol:
    protocol: Protocol = (info.context or {})["protocol"]
    return protocol


def _previous(info: ValidationInfo, key: str) -> float | None:
    value = (info.context or {}).get("previous", {}).get(key)
    return float(value) if value is not None else None


@cache
def material_fields(model: type[StepData]) -> dict[str, str]:
    """The fields of `model` naming a kit lot or a device: field name -> "lot" or "device"."""
    found = {name: option_meta(model, name).material for name in model.model_fields}
    return {name: kind for name, kind in found.items() if kind}


@cache
def measured_fields(model: type[StepData]) -> tuple[str, ...]:
    """The fields of `model` that have a protocol range (every step asks: read once)."""
    return tuple(name for name in model.model_fields if range_of(model, name) is not None)


def _check_ranges(model: StepData, info: ValidationInfo) -> None:
    """Every measured field of `model` within the protocol's range."""
    protocol = _protocol(info)
    for name in measured_fields(type(model)):
        value = getattr(model, name)
        if value is None:
            continue
        low, high = protocol.range(name)
        if not low <= value <= high:
            flag = option_of(type(model), name)
            raise ValueError(f"{flag} {value:g} is out of range {low:g}-{high:g}")


def _check_not_more(
    model: type[StepData], info: ValidationInfo, name: str, value: float, before: str
) -> None:
    previous = _previous(info, before)
    if previous is not None and value > previous:
        raise ValueError(
            f"{option_of(model, name)} {value:g} is more than the {before.removesuffix('_ml')} "
            f"volume {previous:g} mL: volumes never grow along the chain"
        )


class AssessmentData(StepData):
    """The imaging assessment: grades, the modalities they rest on, deformity, baseline pain."""

    kl_grade: Annotated[Count, Option("Kellgren-Lawrence grade, 0-4.", flag="--kl")] = Field(
        ge=0, le=4
    )
    icrs_grade: Annotated[Count, Option("ICRS cartilage grade, 0-4.", flag="--icrs")] = Field(
        ge=0, le=4
    )
    imaging: Annotated[
        list[Modality],
        Option("Modalities used: xray,mri,arthroscopy.", metavar="LIST", split=","),
    ] = Field(min_length=1)
    leg_deformity: Annotated[
        bool, Option("Deformity of the leg bones.", flag="--deformity", negative=True)
    ] = False
    baseline_vas: Annotated[float, Option("Baseline pain, VAS 0-10.", flag="--vas")] = Field(
        ge=0, le=10
    )
    override_reason: Annotated[
        Text | None, Option("Surgeon's reason to treat a non-candidate.", metavar="TEXT")
    ] = None

    computed = frozenset(
        {"candidate", "reason", "insurance_eligible", "insurance_basis", "overridden"}
    )
    example = {"kl_grade": 3, "icrs_grade": 4, "imaging": ["xray", "mri"], "baseline_vas": 7}

    @field_validator("imaging")
    @classmethod
    def _each_modality_once(cls, imaging: list[str]) -> list[str]:
        # Stored in one order whatever order was typed, so that equal assessments read alike.
        return [m for m in MODALITIES if m in imaging]

    @classmethod
    def outcome(cls, data: Mapping[str, Any]) -> list[str]:
        # The decision and its reason (e.g. "refer for arthroplasty") are what the surgeon acts on.
        eligible = "yes" if data["insurance_eligible"] else "no"
        return [
            f"assessment: {data['reason']}",
            f"insurance: {eligible} ({data['insurance_basis']})",
        ]


class CollectionData(StepData):
    """The bone marrow harvest: site, anaesthesia, aspirate volume, kit and specimen label."""

    harvest_site: Annotated[Literal["iliac crest"], Option(hidden=True)] = "iliac crest"
    side: Annotated[Knee, Option("Iliac crest side.")]
    anaesthesia: Annotated[Literal["local"], Option()] = "local"
    aspirate_ml: Annotated[float, Option("Aspirate volume, mL."), Range(1.0, 240.0)] = Field(gt=0)
    anticoagulant: Annotated[Name, Option("e.g. heparin, ACD-A.", metavar="TEXT")]
    kit_lot: Annotated[Label, Option("Harvest kit lot.", metavar="TEXT", material="lot")]
    specimen_id: Annotated[Label, Option("Label on the specimen.", metavar="ID")]

    example = {
        "side": "left",
        "aspirate_ml": 60,
        "anticoagulant": "heparin",
        "kit_lot": "K-2291",
        "specimen_id": "SP-0001",
    }


class FilteringData(StepData):
    """The filtering of the aspirate."""

    filter_lot: Annotated[Label, Option("Filter kit lot.", metavar="TEXT", material="lot")]
    filtered_ml: Annotated[
        float, Option("Filtered volume, mL (<= aspirate)."), Range(0.5, 240.0)
    ] = Field(gt=0)

    example = {"filter_lot": "F-778", "filtered_ml": 55}

    @model_validator(mode="after")
    def _ranges(self, info: ValidationInfo) -> FilteringData:
        _check_not_more(type(self), info, "filtered_ml", self.filtered_ml, "aspirate_ml")
        return self


class CentrifugationData(StepData):
    """The centrifugation: device, force or speed, duration and number of spins."""

    device_id: Annotated[
        Label, Option("Centrifuge device ID.", flag="--device", metavar="TEXT", material="device")
    ]
    g_force: Annotated[
        Count | None, Option("Relative centrifugal force, x g."), Range(100, 5000)
    ] = Field(default=None, gt=0)
    rpm: Annotated[
        Count | None, Option("Speed, rpm (when the force is not known)."), Range(300, 10000)
    ] = Field(default=None, gt=0)
    duration_min: Annotated[
        float, Option("Duration of each spin, min.", flag="--minutes"), Range(1.0, 60.0)
    ] = Field(gt=0)
    spins: Annotated[Count, Option("Number of spins."), Range(1, 3)] = Field(default=1, ge=1)
    override_reason: Annotated[
        Text | None,
        Option("Surgeon's reason to use a device out of calibration or QC.", metavar="TEXT"),
    ] = None

    computed = frozenset({"device_registered", "device_problem", "overridden"})
    example = {"device_id": "CF-02", "g_force": 1500, "duration_min": 10, "spins": 2}

    @model_validator(mode="after")
    def _ranges(self, info: ValidationInfo) -> CentrifugationData:
        if (self.g_force is None) == (self.rpm is None):
            raise ValueError("give exactly one of --g-force or --rpm")
        return self


class PlasmaRemovalData(StepData):
    """The removal of the plasma (net volume discarded) and of the red-cell layer."""

    plasma_removed_ml: Annotated[float, Option("Plasma removed, mL."), Range(0.0, 240.0)] = Field(
        ge=0
    )
    rbc_removed: Annotated[
        bool, Option("Whether the red-cell layer was removed.", negative=True)
    ] = True

    example = {"plasma_removed_ml": 45}

    @model_validator(mode="after")
    def _ranges(self, info: ValidationInfo) -> PlasmaRemovalData:
        filtered = _previous(info, "filtered_ml")
        if filtered is not None and self.plasma_removed_ml >= filtered:
            raise ValueError(
                f"--plasma-removed-ml {self.plasma_removed_ml:g} must be less than the "
                f"filtered {filtered:g} mL: something must remain to concentrate"
            )
        return self


class ConcentrationData(StepData):
    """The concentrate drawn; its concentration factor is computed, never typed."""

    concentrate_ml: Annotated[float, Option("Concentrate drawn, mL."), Range(0.5, 60.0)] = Field(
        gt=0
    )
    cell_count_per_ul: Annotated[
        Count | None,
        Option("Nucleated cells per uL (optional).", flag="--cell-count"),
        Range(0, 1000000),
    ] = Field(default=None, ge=0)

    computed = frozenset({"concentration_factor"})
    example = {"concentrate_ml": 6, "cell_count_per_ul": 42000}

    @model_validator(mode="after")
    def _ranges(self, info: ValidationInfo) -> ConcentrationData:
        _check_not_more(type(self), info, "concentrate_ml", self.concentrate_ml, "filtered_ml")
        filtered = _previous(info, "filtered_ml")
        removed = _previous(info, "plasma_removed_ml")
        if filtered is not None and removed is not None:
            left = round(filtered - removed, 6)
            if self.concentrate_ml > left:
                raise ValueError(
                    f"--concentrate-ml {self.concentrate_ml:g} is more than the {left:g} mL left "
                    f"after the plasma removal ({filtered:g} filtered - {removed:g} removed): "
                    "volumes never grow along the chain"
                )
        return self

    @classmethod
    def derived(cls, data: Mapping[str, Any], before: Mapping[str, float]) -> dict[str, Any]:
        # The factor is the aspirate over the concentrate, from the recorded volumes.
        return {"concentration_factor": round(before["aspirate_ml"] / data["concentrate_ml"], 2)}

    @classmethod
    def outcome(cls, data: Mapping[str, Any]) -> list[str]:
        return [f"concentration factor {data['concentration_factor']:g}x"]


class InjectionData(StepData):
    """The injection: knee, volume, guidance, the specimen label scanned, the verifier."""

    knee: Annotated[Knee, Option("Must be the case's knee.")]
    injected_ml: Annotated[
        float, Option("Volume injected, mL (<= concentrate)."), Range(0.5, 60.0)
    ] = Field(gt=0)
    guidance: Annotated[Literal["ultrasound", "fluoroscopy", "landmark"], Option()]
    specimen_id: Annotated[Label, Option("Scanned from the syringe: must match.", metavar="ID")]
    verifier_id: Annotated[
        Label,
        Option(
            "Second operator who verifies (PIN prompted or BMAC_VERIFIER_PIN).",
            flag="--verifier",
            metavar="ID",
            verifier=True,
        ),
    ]
    override_reason: Annotated[
        Text | None, Option("Surgeon's reason to inject past the window.", metavar="TEXT")
    ] = None

    computed = frozenset({"minutes_since_harvest", "window_limit_min", "overridden"})
    example = {
        "knee": "left",
        "injected_ml": 5,
        "guidance": "ultrasound",
        "specimen_id": "SP-0001",
        "verifier_id": "nurse.choi",
    }

    @model_validator(mode="after")
    def _ranges(self, info: ValidationInfo) -> InjectionData:
        _check_not_more(type(self), info, "injected_ml", self.injected_ml, "concentrate_ml")
        return self


class FollowUpData(StepData):
    """A follow-up visit: pain (VAS), optional KOOS / WOMAC, adverse events, arthroplasty."""

    visit: Annotated[Visit, Option()]
    vas: Annotated[float, Option("Pain, VAS 0-10.")] = Field(ge=0, le=10)
    koos: Annotated[float | None, Option("KOOS 0-100 (optional).")] = Field(
        default=None, ge=0, le=100
    )
    womac: Annotated[float | None, Option("WOMAC 0-96 (optional).")] = Field(
        default=None, ge=0, le=96
    )
    adverse_events: Annotated[
        list[Text], Option("Repeatable.", flag="--adverse-event", metavar="TEXT", repeat=True)
    ] = Field(default_factory=list)
    arthroplasty: Annotated[bool, Option("The knee went on to arthroplasty.")] = False

    example = {"visit": "1w", "vas": 5, "koos": 61}

    @model_validator(mode="after")
    def _scheduled(self, info: ValidationInfo) -> FollowUpData:
        visits = _protocol(info).visits
        if self.visit != "adhoc" and self.visit not in visits:
            raise ValueError(
                f"--visit {self.visit} is not in this case's protocol schedule "
                f"({', '.join(visits)}): use one of those, or adhoc"
            )
        return self


def validate(
    model: type[StepData], data: Mapping[str, Any], protocol: Protocol, previous: Mapping[str, Any]
) -> StepData:
    """Build the step's model from raw values; any problem becomes one InvalidData line."""
    try:
        return model.model_validate(data, context={"protocol": protocol, "previous": previous})
    except ValidationError as exc:
        raise InvalidData(describe(model, exc)) from None


def describe(model: type[StepData], exc: ValidationError) -> str:
    """The first validation problem, in the words of the CLI's options."""
    error = exc.errors(include_url=False)[0]
    message = str(error["msg"]).removeprefix("Value error, ")
    loc = [str(p) for p in error["loc"] if not isinstance(p, int)]
    if not loc:
        return message
    value = error.get("input")
    if isinstance(value, str):
        shown = f" (got {text_policy.shown(value)})"
    elif value is not None and not isinstance(value, dict):
        typed = repr(value)
        cut = typed if len(typed) <= text_policy.ECHO_LIMIT else typed[:77] + "..."
        shown = f" (got {cut})"
    else:
        shown = ""
    return f"{option_of(model, loc[0])}: {message}{shown}"
