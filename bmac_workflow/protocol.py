"""The versioned clinical protocol file: load, validate, hash."""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import InvalidData

DEFAULT_FILE = "default_protocol.toml"


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


def _get(doc: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    node: Any = doc
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise InvalidData(f"protocol file: missing key `{key}`")
        node = node[part]
    if not isinstance(node, kind) or (isinstance(node, bool) and bool not in _as_tuple(kind)):
        raise InvalidData(f"protocol file: key `{key}` has the wrong type")
    return node


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _grades(doc: dict[str, Any], key: str) -> frozenset[int]:
    values = _get(doc, key, list)
    if not values or not all(isinstance(v, int) and 0 <= v <= 4 for v in values):
        raise InvalidData(f"protocol file: key `{key}` must list grades 0-4")
    return frozenset(values)


def parse(content: str) -> Protocol:
    """Parse and validate protocol TOML text; a malformed file names the offending key."""
    try:
        doc = tomllib.loads(content)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidData(f"protocol file is not valid TOML: {exc}") from None
    visits = _get(doc, "follow_up.visits", dict)
    if not visits or not all(isinstance(d, int) and d > 0 for d in visits.values()):
        raise InvalidData("protocol file: key `follow_up.visits` must map visit names to days > 0")
    final_visit = _get(doc, "follow_up.final_visit", str)
    if final_visit not in visits:
        raise InvalidData("protocol file: key `follow_up.final_visit` must name one of the visits")
    ranges: dict[str, tuple[float, float]] = {}
    for name in REQUIRED_RANGES:
        pair = _get(doc, f"ranges.{name}", list)
        if len(pair) != 2 or not all(isinstance(v, int | float) for v in pair) or pair[0] > pair[1]:
            raise InvalidData(f"protocol file: key `ranges.{name}` must be [low, high]")
        ranges[name] = (float(pair[0]), float(pair[1]))
    window = _get(doc, "injection.window_minutes", (int, float))
    if window <= 0:
        raise InvalidData("protocol file: key `injection.window_minutes` must be > 0")
    return Protocol(
        version=_get(doc, "version", str),
        sha256=hashlib.sha256(content.encode()).hexdigest(),
        content=content,
        kl_grades=_grades(doc, "eligibility.kl_grades"),
        icrs_grades=_grades(doc, "eligibility.icrs_grades"),
        kl_arthroplasty=_get(doc, "eligibility.kl_arthroplasty", int),
        kl_modalities=frozenset(_get(doc, "insurance.kl_modalities", list)),
        icrs_modalities=frozenset(_get(doc, "insurance.icrs_modalities", list)),
        window_minutes=float(window),
        visits=dict(visits),
        final_visit=final_visit,
        ranges=ranges,
        max_failed_pins=_get(doc, "signing.max_failed_pins", int),
        lock_minutes=float(_get(doc, "signing.lock_minutes", (int, float))),
    )


def default_text() -> str:
    """The protocol shipped in the package."""
    return resources.files("bmac_workflow").joinpath(DEFAULT_FILE).read_text(encoding="utf-8")


def load(path: str | None) -> Protocol:
    """The protocol at `path`, or the shipped default when no path is given."""
    if not path:
        return parse(default_text())
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidData(f"cannot read protocol file {path}: {exc.strerror}") from None
    return parse(text)
