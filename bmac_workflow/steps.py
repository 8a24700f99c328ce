"""The data each step records (SPEC §4): validated models, units in the field names.

Ranges come from the case's protocol and the volume chain from the case's earlier steps; both
reach the validators through pydantic's validation context.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, model_validator

from .errors import InvalidData
from .protocol import Protocol

Knee = Literal["left", "right"]
Modality = Literal["xray", "mri", "arthroscopy"]
Visit = Literal["1w", "1m", "3m", "6m", "12m", "24m", "adhoc"]

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

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    def record(self) -> dict[str, Any]:
        """The JSON-ready form stored in the log entry."""
        return self.model_dump(mode="json", exclude_none=True)


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
    kl_grade: int = Field(ge=0, le=4)
    icrs_grade: int = Field(ge=0, le=4)
    imaging: list[Modality] = Field(min_length=1)
    leg_deformity: bool = False
    baseline_vas: float = Field(ge=0, le=10)
    override_reason: str | None = Field(default=None, min_length=1)


class CollectionData(StepData):
    harvest_site: Literal["iliac crest"] = "iliac crest"
    side: Knee
    anaesthesia: Literal["local"] = "local"
    aspirate_ml: float = Field(gt=0)
    anticoagulant: str = Field(min_length=1)
    kit_lot: str = Field(min_length=1)
    specimen_id: str = Field(min_length=1, max_length=64)

    @model_validator(mode="after")
    def _ranges(self, info: ValidationInfo) -> CollectionData:
        _check_range(info, "aspirate_ml", self.aspirate_ml)
        return self


class FilteringData(StepData):
    filter_lot: str = Field(min_length=1)
    filtered_ml: float = Field(gt=0)

    @model_validator(mode="after")
    def _ranges(self, info: ValidationInfo) -> FilteringData:
        _check_range(info, "filtered_ml", self.filtered_ml)
        _check_not_more(info, "filtered_ml", self.filtered_ml, "aspirate_ml")
        return self


class CentrifugationData(StepData):
    device_id: str = Field(min_length=1)
    g_force: int | None = Field(default=None, gt=0)
    rpm: int | None = Field(default=None, gt=0)
    duration_min: float = Field(gt=0)
    spins: int = Field(default=1, ge=1)

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
    concentrate_ml: float = Field(gt=0)
    cell_count_per_ul: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _ranges(self, info: ValidationInfo) -> ConcentrationData:
        _check_range(info, "concentrate_ml", self.concentrate_ml)
        _check_range(info, "cell_count_per_ul", self.cell_count_per_ul)
        _check_not_more(info, "concentrate_ml", self.concentrate_ml, "filtered_ml")
        return self


class InjectionData(StepData):
    knee: Knee
    injected_ml: float = Field(gt=0)
    guidance: Literal["ultrasound", "fluoroscopy", "landmark"]
    specimen_id: str = Field(min_length=1, max_length=64)
    verifier_id: str = Field(min_length=1)
    override_reason: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _ranges(self, info: ValidationInfo) -> InjectionData:
        _check_range(info, "injected_ml", self.injected_ml)
        _check_not_more(info, "injected_ml", self.injected_ml, "concentrate_ml")
        return self


class FollowUpData(StepData):
    visit: Visit
    vas: float = Field(ge=0, le=10)
    koos: float | None = Field(default=None, ge=0, le=100)
    womac: float | None = Field(default=None, ge=0, le=96)
    adverse_events: list[str] = Field(default_factory=list)
    arthroplasty: bool = False


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
