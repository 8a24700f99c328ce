"""The data each step records (SPEC §4): validated models, units in the field names.

Ranges come from the case's protocol and the volume chain from the case's earlier steps; both
reach the validators through pydantic's validation context. The chain: filtered <= aspirate,
plasma removed < filtered, concentrate <= what the plasma removal left (filtered - plasma
removed), injected <= concentrate. The concentration factor is never typed: `extra="forbid"`
refuses it, and the service computes it from the aspirate and the concentrate.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

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

from .errors import InvalidData
from .protocol import MODALITIES, Protocol
from .rules import looks_like_rrn

Knee = Literal["left", "right"]
Modality = Literal["xray", "mri", "arthroscopy"]
Visit = Literal["1w", "1m", "3m", "6m", "12m", "24m", "adhoc"]


def _not_bool(value: Any) -> Any:
    # pydantic's lax mode reads True as 1: a grade or a count is never a yes/no.
    if isinstance(value, bool):
        raise ValueError("must be a number, not yes/no")
    return value


Count = Annotated[int, BeforeValidator(_not_bool)]
Text = Annotated[str, Field(min_length=1, max_length=500)]

# Field name -> the CLI option a person typed, so that errors speak the user's words.
OPTION_FOR = {
    "kl_grade": "--kl",
    "icrs_grade": "--icrs",
    "leg_deformity": "--deformity",
    "baseline_vas": "--vas",
    "vas": "--vas",
    "device_id": "--device",
    "duration_min": "--minutes",
    "cell_count_per_ul": "--cell-count",
    "verifier_id": "--verifier",
    "adverse_events": "--adverse-event",
    "rbc_removed": "--rbc-removed",
}


class StepData(BaseModel):
    """Base of every step's data: strict, immutable, no unknown fields."""

    # NaN and infinity pass no range check and cannot be stored in canonical JSON: refuse them.
    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, allow_inf_nan=False
    )

    def record(self) -> dict[str, Any]:
        """The JSON-ready form stored in the log entry."""
        return self.model_dump(mode="json", exclude_none=True)

    @model_validator(mode="after")
    def _no_registration_number(self) -> StepData:
        # The fields' values as stored (extra="forbid": nothing else is there); iterating the
        # model itself builds a filtered copy, half of a step's validation.
        for name, value in self.__dict__.items():
            texts = value if isinstance(value, list) else [value]
            if any(isinstance(t, str) and looks_like_rrn(t) for t in texts):
                raise ValueError(
                    f"{_option(name)} looks like it holds a resident registration number, "
                    "which may not be stored: leave it out"
                )
        return self


def _protocol(info: ValidationInfo) -> Protocol:
    protocol: Protocol = (info.context or {})["protocol"]
    return protocol


def _previous(info: ValidationInfo, key: str) -> float | None:
    value = (info.context or {}).get("previous", {}).get(key)
    return float(value) if value is not None else None


def _check_range(info: ValidationInfo, name: str, value: float | None) -> None:
    if value is None:
        return
    low, high = _protocol(info).range(name)
    if not low <= value <= high:
        raise ValueError(f"{_option(name)} {value:g} is out of range {low:g}-{high:g}")


def _check_not_more(info: ValidationInfo, name: str, value: float, before: str) -> None:
    previous = _previous(info, before)
    if previous is not None and value > previous:
        raise ValueError(
            f"{_option(name)} {value:g} is more than the {before.removesuffix('_ml')} volume "
            f"{previous:g} mL: volumes never grow along the chain"
        )


def _option(field: str) -> str:
    return OPTION_FOR.get(field, "--" + field.replace("_", "-"))


class AssessmentData(StepData):
    """The imaging assessment: grades, the modalities they rest on, deformity, baseline pain."""

    kl_grade: Count = Field(ge=0, le=4)
    icrs_grade: Count = Field(ge=0, le=4)
    imaging: list[Modality] = Field(min_length=1)
    leg_deformity: bool = False
    baseline_vas: float = Field(ge=0, le=10)
    override_reason: Text | None = None

    @field_validator("imaging")
    @classmethod
    def _each_modality_once(cls, imaging: list[str]) -> list[str]:
        # Stored in one order whatever order was typed, so that equal assessments read alike.
        return [m for m in MODALITIES if m in imaging]


class CollectionData(StepData):
    """The bone marrow harvest: site, anaesthesia, aspirate volume, kit and specimen label."""

    harvest_site: Literal["iliac crest"] = "iliac crest"
    side: Knee
    anaesthesia: Literal["local"] = "local"
    aspirate_ml: float = Field(gt=0)
    anticoagulant: Text
    kit_lot: Text
    specimen_id: str = Field(min_length=1, max_length=64)

    @model_validator(mode="after")
    def _ranges(self, info: ValidationInfo) -> CollectionData:
        _check_range(info, "aspirate_ml", self.aspirate_ml)
        return self


class FilteringData(StepData):
    """The filtering of the aspirate."""

    filter_lot: Text
    filtered_ml: float = Field(gt=0)

    @model_validator(mode="after")
    def _ranges(self, info: ValidationInfo) -> FilteringData:
        _check_range(info, "filtered_ml", self.filtered_ml)
        _check_not_more(info, "filtered_ml", self.filtered_ml, "aspirate_ml")
        return self


class CentrifugationData(StepData):
    """The centrifugation: device, force or speed, duration and number of spins."""

    device_id: Text
    g_force: Count | None = Field(default=None, gt=0)
    rpm: Count | None = Field(default=None, gt=0)
    duration_min: float = Field(gt=0)
    spins: Count = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _ranges(self, info: ValidationInfo) -> CentrifugationData:
        if (self.g_force is None) == (self.rpm is None):
            raise ValueError("give exactly one of --g-force or --rpm")
        _check_range(info, "g_force", self.g_force)
        _check_range(info, "rpm", self.rpm)
        _check_range(info, "duration_min", self.duration_min)
        _check_range(info, "spins", self.spins)
        return self


class PlasmaRemovalData(StepData):
    """The removal of the plasma (net volume discarded) and of the red-cell layer."""

    plasma_removed_ml: float = Field(ge=0)
    rbc_removed: bool = True

    @model_validator(mode="after")
    def _ranges(self, info: ValidationInfo) -> PlasmaRemovalData:
        _check_range(info, "plasma_removed_ml", self.plasma_removed_ml)
        filtered = _previous(info, "filtered_ml")
        if filtered is not None and self.plasma_removed_ml >= filtered:
            raise ValueError(
                f"--plasma-removed-ml {self.plasma_removed_ml:g} must be less than the "
                f"filtered {filtered:g} mL: something must remain to concentrate"
            )
        return self


class ConcentrationData(StepData):
    """The concentrate drawn; its concentration factor is computed, never typed."""

    concentrate_ml: float = Field(gt=0)
    cell_count_per_ul: Count | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _ranges(self, info: ValidationInfo) -> ConcentrationData:
        _check_range(info, "concentrate_ml", self.concentrate_ml)
        _check_range(info, "cell_count_per_ul", self.cell_count_per_ul)
        _check_not_more(info, "concentrate_ml", self.concentrate_ml, "filtered_ml")
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


class InjectionData(StepData):
    """The injection: knee, volume, guidance, the specimen label scanned, the verifier."""

    knee: Knee
    injected_ml: float = Field(gt=0)
    guidance: Literal["ultrasound", "fluoroscopy", "landmark"]
    specimen_id: str = Field(min_length=1, max_length=64)
    verifier_id: str = Field(min_length=1, max_length=64)
    override_reason: Text | None = None

    @model_validator(mode="after")
    def _ranges(self, info: ValidationInfo) -> InjectionData:
        _check_range(info, "injected_ml", self.injected_ml)
        _check_not_more(info, "injected_ml", self.injected_ml, "concentrate_ml")
        return self


class FollowUpData(StepData):
    """A follow-up visit: pain (VAS), optional KOOS / WOMAC, adverse events, arthroplasty."""

    visit: Visit
    vas: float = Field(ge=0, le=10)
    koos: float | None = Field(default=None, ge=0, le=100)
    womac: float | None = Field(default=None, ge=0, le=96)
    adverse_events: list[Text] = Field(default_factory=list)
    arthroplasty: bool = False

    @model_validator(mode="after")
    def _scheduled(self, info: ValidationInfo) -> FollowUpData:
        visits = _protocol(info).visits
        if self.visit != "adhoc" and self.visit not in visits:
            raise ValueError(
                f"--visit {self.visit} is not in this case's protocol schedule "
                f"({', '.join(visits)}): use one of those, or adhoc"
            )
        return self


STEP_MODELS: dict[str, type[StepData]] = {
    "assess": AssessmentData,
    "collect": CollectionData,
    "filter": FilteringData,
    "centrifuge": CentrifugationData,
    "remove_plasma": PlasmaRemovalData,
    "concentrate": ConcentrationData,
    "inject": InjectionData,
    "record_follow_up": FollowUpData,
}


def validate(
    trigger: str, data: dict[str, Any], protocol: Protocol, previous: dict[str, Any]
) -> StepData:
    """Build the step's model from raw values; any problem becomes one InvalidData line."""
    model = STEP_MODELS[trigger]
    try:
        return model.model_validate(data, context={"protocol": protocol, "previous": previous})
    except ValidationError as exc:
        raise InvalidData(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    """The first validation problem, in the words of the CLI's options."""
    error = exc.errors(include_url=False)[0]
    message = str(error["msg"]).removeprefix("Value error, ")
    loc = [str(p) for p in error["loc"] if not isinstance(p, int)]
    if not loc:
        return message
    value = error.get("input")
    shown = f" (got {value!r})" if value is not None and not isinstance(value, dict) else ""
    return f"{_option(loc[0])}: {message}{shown}"
