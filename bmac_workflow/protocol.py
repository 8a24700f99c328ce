"""The versioned clinical protocol: parse and validate a protocol file, hash it.

Every key has a default (`DEFAULTS` here; the physical ranges from the step data models,
step_data.py), so that a key added in a later version of bmac never makes a stored protocol
unreadable: a stored protocol that lacks it takes the default, and `Protocol.defaulted` says
which keys did. A new file is checked strictly: a value of the wrong type or out of range, and
an unknown key (most often a typo that would silently leave a default in force), refuse the
whole file (exit 5) naming the key. Never change a default: stored protocols rely on it.
"""

from __future__ import annotations

import hashlib
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import declared
from .errors import InvalidData

DEFAULT_FILE = "default_protocol.toml"

# The imaging modalities a grade may rest on, and the follow-up visits a schedule may name:
# the CLI offers exactly these (docs/clinical-rules.md), so a protocol cannot invent others.
MODALITIES = ("xray", "mri", "arthroscopy")
VISIT_NAMES = ("1w", "1m", "3m", "6m", "12m", "24m")

# The value each key takes when a protocol does not give it (clinical rules and house choices,
# each with its source in docs/clinical-rules.md). Ranges: step_data.py.
DEFAULTS: dict[str, Any] = {
    "eligibility.kl_grades": [2, 3],
    "eligibility.icrs_grades": [3, 4],
    "eligibility.kl_arthroplasty": 4,
    "insurance.kl_modalities": ["xray"],
    "insurance.icrs_modalities": ["mri", "arthroscopy"],
    "injection.window_minutes": 120,
    "follow_up.visits": {"1w": 7, "1m": 30, "3m": 91, "6m": 182, "12m": 365, "24m": 730},
    "follow_up.final_visit": "24m",
    # An entry recorded more than this long after its clinical time needs a reason (lateness.py).
    "recording.late_after_minutes": 15,
    # House choice: a device not registered with `bmac device add` is accepted (and shown as
    # unregistered) unless the clinic's protocol says otherwise.
    "devices.require_registered_devices": False,
}
TABLES = ("eligibility", "insurance", "injection", "follow_up", "recording", "devices", "ranges")
LATE_LIMIT_MAX = 1440  # a day: a longer limit would make no entry late
# Switches a clinic turns on in its file; off when left out, so never listed as defaulted.
OPT_IN = ("devices.require_registered_devices",)
# Protocols before 2026.3 carried the sign-in limits; they are site settings now (settings.py),
# so that whoever passes a protocol file cannot set them. Stored protocols keep the table.
RETIRED_TABLES = {"signing": "sign-in limits are site settings now: `bmac settings set`"}


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
    ranges: dict[str, tuple[float, float]]  # those the file gives; the others: default_ranges()
    defaulted: tuple[str, ...] = ()  # the keys (ranges aside) the file leaves to their default
    settings: dict[str, Any] = field(default_factory=dict)

    def setting(self, key: str) -> Any:
        """Any key's value in force (`table.key`), the file's or the default."""
        return self.settings[key]

    def range(self, name: str) -> tuple[float, float]:
        """The inclusive physical range of a measured value (its default if the file has none)."""
        found = self.ranges.get(name)
        if found is not None:
            return found
        return default_ranges()[name]


def default_ranges() -> dict[str, tuple[float, float]]:
    """The physical range of every measured value the declared steps record, by key."""
    return declared.workflow().default_ranges


class _Reader:
    """Reads keys of a parsed TOML document: the file's value, or the key's default."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc

    def given(self, key: str) -> bool:
        """True when the file gives `key` (`table.key`)."""
        node: Any = self.doc
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        return True

    def get(self, key: str, kind: type | tuple[type, ...]) -> Any:
        if not self.given(key):
            return DEFAULTS[key]
        table, name = key.split(".")
        node = self.doc[table][name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if not isinstance(node, kinds) or (isinstance(node, bool) and bool not in kinds):
            raise _bad(key, "has the wrong type")
        return node


def _bad(key: str, what: str) -> InvalidData:
    return InvalidData(f"protocol file: key `{key}` {what}")


def _is_number(value: Any) -> bool:
    # TOML allows nan and inf; neither is a limit anybody could work to.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _grades(doc: _Reader, key: str) -> frozenset[int]:
    values = doc.get(key, list)
    if not values or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 4 for v in values
    ):
        raise _bad(key, "must list grades 0-4")
    return frozenset(values)


def _modalities(doc: _Reader, key: str) -> frozenset[str]:
    values = doc.get(key, list)
    if not values or not all(v in MODALITIES for v in values):
        raise _bad(key, f"must list modalities among {', '.join(MODALITIES)}")
    return frozenset(values)


# The largest values a new protocol file may give (a stored one is read as it was activated):
# beyond them no clinic could work to the rule, and a time computed from them overflows.
MAX_WINDOW_MINUTES = 24 * 60
MAX_VISIT_DAYS = 20 * 366
MAX_RANGE = 1e7


def _positive(
    doc: _Reader, key: str, kind: type | tuple[type, ...], most: float | None = None
) -> Any:
    value = doc.get(key, kind)
    if not _is_number(value) or value <= 0:
        raise _bad(key, "must be a finite number > 0")
    if most is not None and value > most:
        raise _bad(key, f"must be at most {most:g}")
    return value


def parse(content: str, stored: bool = False) -> Protocol:
    """Parse and validate protocol TOML text; a malformed file names the offending key.

    `stored`: the text of a protocol a case already runs under. Keys it lacks take their
    defaults (as in a new file), and keys this bmac does not know are passed over instead of
    refused, so that no stored protocol ever becomes unreadable.
    """
    try:
        raw = tomllib.loads(content)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidData(f"protocol file is not valid TOML: {exc}") from None
    doc = _Reader(raw)
    if "version" not in raw:
        raise InvalidData("protocol file: missing key `version`")
    version = raw["version"]
    if not isinstance(version, str):
        raise _bad("version", "has the wrong type")
    if not version.strip():
        raise _bad("version", "must not be empty")
    from .protocol_sections import check_known_keys, read_ranges, read_visits

    if not stored:
        check_known_keys(raw, default_ranges())
    kl_grades = _grades(doc, "eligibility.kl_grades")
    kl_arthroplasty = doc.get("eligibility.kl_arthroplasty", int)
    if not 0 <= kl_arthroplasty <= 4 or kl_arthroplasty in kl_grades:
        raise _bad("eligibility.kl_arthroplasty", "must be a grade 0-4 that is not a candidate")
    visits, final_visit = read_visits(doc)
    ranges = read_ranges(raw)
    settings = {key: _setting(doc, key) for key in DEFAULTS}
    late = _positive(doc, "recording.late_after_minutes", (int, float))
    if late > LATE_LIMIT_MAX:
        raise _bad("recording.late_after_minutes", f"must be at most {LATE_LIMIT_MAX} (a day)")
    defaulted = [key for key in DEFAULTS if not doc.given(key) and key not in OPT_IN]
    return Protocol(
        version=version.strip(),
        sha256=hashlib.sha256(content.encode()).hexdigest(),
        content=content,
        kl_grades=kl_grades,
        icrs_grades=_grades(doc, "eligibility.icrs_grades"),
        kl_arthroplasty=kl_arthroplasty,
        kl_modalities=_modalities(doc, "insurance.kl_modalities"),
        icrs_modalities=_modalities(doc, "insurance.icrs_modalities"),
        window_minutes=float(
            _positive(
                doc,
                "injection.window_minutes",
                (int, float),
                None if stored else MAX_WINDOW_MINUTES,
            )
        ),
        visits=visits,
        final_visit=final_visit,
        ranges=ranges,
        defaulted=tuple(defaulted),
        settings=settings,
    )


def _setting(doc: _Reader, key: str) -> Any:
    """A key's value, of its default's type (a number for a number)."""
    default = DEFAULTS[key]
    kind: type | tuple[type, ...] = type(default)
    if isinstance(default, int | float) and not isinstance(default, bool):
        kind = (int, float)
    return doc.get(key, kind)


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
        # utf-8-sig: a file saved by an editor that starts it with a byte order mark reads the
        # same as one without.
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidData(f"cannot read protocol file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InvalidData(f"protocol file {path} is not UTF-8 text") from None
    return parse(text)
