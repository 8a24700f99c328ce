"""The versioned clinical protocol file: load, validate, hash.

A malformed file is refused whole (exit 5) with the key at fault named, so that no case ever runs
under limits nobody meant: a missing key, a value of the wrong type or out of range, and an
unknown key (most often a typo that would silently leave a default in force) are all errors.
"""

from __future__ import annotations

import hashlib
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InvalidData

DEFAULT_FILE = "default_protocol.toml"

# The imaging modalities a grade may rest on, and the follow-up visits a schedule may name:
# the CLI offers exactly these (SPEC §4, §5), so a protocol cannot invent others.
MODALITIES = ("xray", "mri", "arthroscopy")
VISIT_NAMES = ("1w", "1m", "3m", "6m", "12m", "24m")


@dataclass(frozen=True)
class Protocol:
    """Every limit the workflow enforces, as one immutable value."""

    version: str
    sha256: str
    content: str
    kl_grades: frozenset[int]
    icrs_grades: frozenset[int]
    kl_arthroplasty: int
    kl_modalities: frozenset[str]
    icrs_modalities: frozenset[str]
    window_minutes: float
    visits: dict[str, int]
    final_visit: str
    ranges: dict[str, tuple[float, float]]
    max_failed_pins: int
    lock_minutes: float

    def range(self, name: str) -> tuple[float, float]:
        """The inclusive physical range of a measured value."""
        return self.ranges[name]


REQUIRED_RANGES = (
    "aspirate_ml",
    "filtered_ml",
    "plasma_removed_ml",
    "concentrate_ml",
    "injected_ml",
    "g_force",
    "rpm",
    "duration_min",
    "spins",
    "cell_count_per_ul",
)

# Every key a protocol file may hold, by table; `title` is free text for people.
KNOWN_KEYS: dict[str, tuple[str, ...]] = {
    "": (
        "version",
        "title",
        "eligibility",
        "insurance",
        "injection",
        "follow_up",
        "ranges",
        "signing",
    ),
    "eligibility": ("kl_grades", "icrs_grades", "kl_arthroplasty"),
    "insurance": ("kl_modalities", "icrs_modalities"),
    "injection": ("window_minutes",),
    "follow_up": ("visits", "final_visit"),
    "ranges": REQUIRED_RANGES,
    "signing": ("max_failed_pins", "lock_minutes"),
}


def _bad(key: str, what: str) -> InvalidData:
    return InvalidData(f"protocol file: key `{key}` {what}")


def _get(doc: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    node: Any = doc
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise InvalidData(f"protocol file: missing key `{key}`")
        node = node[part]
    if not isinstance(node, kind) or (isinstance(node, bool) and bool not in _as_tuple(kind)):
        raise _bad(key, "has the wrong type")
    return node


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _is_number(value: Any) -> bool:
    # TOML allows nan and inf; neither is a limit anybody could work to.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _grades(doc: dict[str, Any], key: str) -> frozenset[int]:
    values = _get(doc, key, list)
    if not values or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 4 for v in values
    ):
        raise _bad(key, "must list grades 0-4")
    return frozenset(values)


def _modalities(doc: dict[str, Any], key: str) -> frozenset[str]:
    values = _get(doc, key, list)
    if not values or not all(v in MODALITIES for v in values):
        raise _bad(key, f"must list modalities among {', '.join(MODALITIES)}")
    return frozenset(values)


def _positive(doc: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = _get(doc, key, kind)
    if not _is_number(value) or value <= 0:
        raise _bad(key, "must be a finite number > 0")
    return value


def _check_known_keys(doc: dict[str, Any]) -> None:
    for table, keys in KNOWN_KEYS.items():
        node = doc if not table else doc.get(table, {})
        if not isinstance(node, dict):
            raise _bad(table, "must be a table")
        for key in node:
            if key not in keys:
                name = f"{table}.{key}" if table else key
                raise InvalidData(f"protocol file: unknown key `{name}` (known: {', '.join(keys)})")


def _visits(doc: dict[str, Any]) -> tuple[dict[str, int], str]:
    visits = _get(doc, "follow_up.visits", dict)
    if not visits or not all(
        isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in visits.values()
    ):
        raise _bad("follow_up.visits", "must map visit names to days > 0")
    unknown = [name for name in visits if name not in VISIT_NAMES]
    if unknown:
        raise _bad("follow_up.visits", f"names unknown visit {unknown[0]!r}: use {VISIT_NAMES}")
    final_visit = _get(doc, "follow_up.final_visit", str)
    if final_visit not in visits:
        raise _bad("follow_up.final_visit", "must name one of the visits")
    if visits[final_visit] != max(visits.values()):
        raise _bad("follow_up.final_visit", "must be the last visit of the schedule")
    return dict(sorted(visits.items(), key=lambda kv: kv[1])), final_visit


def _ranges(doc: dict[str, Any]) -> dict[str, tuple[float, float]]:
    ranges: dict[str, tuple[float, float]] = {}
    for name in REQUIRED_RANGES:
        key = f"ranges.{name}"
        pair = _get(doc, key, list)
        if len(pair) != 2 or not all(_is_number(v) for v in pair) or pair[0] > pair[1]:
            raise _bad(key, "must be [low, high]")
        if pair[0] < 0:
            raise _bad(key, "must not go below 0")
        ranges[name] = (float(pair[0]), float(pair[1]))
    return ranges


def parse(content: str) -> Protocol:
    """Parse and validate protocol TOML text; a malformed file names the offending key."""
    try:
        doc = tomllib.loads(content)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidData(f"protocol file is not valid TOML: {exc}") from None
    version = _get(doc, "version", str).strip()
    if not version:
        raise _bad("version", "must not be empty")
    _check_known_keys(doc)
    kl_grades = _grades(doc, "eligibility.kl_grades")
    kl_arthroplasty = _get(doc, "eligibility.kl_arthroplasty", int)
    if not 0 <= kl_arthroplasty <= 4 or kl_arthroplasty in kl_grades:
        raise _bad("eligibility.kl_arthroplasty", "must be a grade 0-4 that is not a candidate")
    visits, final_visit = _visits(doc)
    return Protocol(
        version=version,
        sha256=hashlib.sha256(content.encode()).hexdigest(),
        content=content,
        kl_grades=kl_grades,
        icrs_grades=_grades(doc, "eligibility.icrs_grades"),
        kl_arthroplasty=kl_arthroplasty,
        kl_modalities=_modalities(doc, "insurance.kl_modalities"),
        icrs_modalities=_modalities(doc, "insurance.icrs_modalities"),
        window_minutes=float(_positive(doc, "injection.window_minutes", (int, float))),
        visits=visits,
        final_visit=final_visit,
        ranges=_ranges(doc),
        max_failed_pins=_positive(doc, "signing.max_failed_pins", int),
        lock_minutes=float(_positive(doc, "signing.lock_minutes", (int, float))),
    )


def default_text() -> str:
    """The protocol shipped in the package."""
    # Imported here: reading commands run on stored protocols and need not pay for it at start.
    from importlib import resources

    return resources.files("bmac_workflow").joinpath(DEFAULT_FILE).read_text(encoding="utf-8")


def load(path: str | None) -> Protocol:
    """The protocol at `path`, or the shipped default when no path is given."""
    if not path:
        return parse(default_text())
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidData(f"cannot read protocol file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InvalidData(f"protocol file {path} is not UTF-8 text") from None
    return parse(text)
