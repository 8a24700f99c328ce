"""Site settings: the clinic's own limits that are not clinical rules, each with a default and
bounds no value may leave. An admin changes one as a signed act of the registry.

They were keys of the protocol file once; a protocol is the clinic's clinical rules, and
whoever could pass a file could set them (a lockout of 190 years, or none at all).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import InvalidData
from .text_policy import shown


@dataclass(frozen=True)
class Setting:
    """A setting: what it is, its default, its bounds (inclusive)."""

    name: str
    what: str
    default: int
    low: int
    high: int


SETTINGS = {
    s.name: s
    for s in (
        Setting("max_failed_pins", "wrong PINs in a row before an operator is locked", 5, 3, 10),
        Setting("lock_minutes", "minutes an operator stays locked after them", 15, 1, 60),
        Setting(
            "max_clock_skew_minutes",
            "minutes a workstation's clock may differ from the PostgreSQL server's",
            2,
            1,
            10,
        ),
        Setting(
            "session_idle_minutes",
            "minutes a reading session (`bmac login`, the web board) lasts without use",
            15,
            1,
            60,
        ),
    )
}
# The longest any lock can last, whatever a setting or a row of the database says.
MAX_LOCK_MINUTES = SETTINGS["lock_minutes"].high


def check(name: str, value: str) -> int:
    """A setting's new value from text, within its bounds (exit 5 otherwise)."""
    setting = SETTINGS.get(name)
    if setting is None:
        raise InvalidData(f"no setting {shown(name)}: the settings are {', '.join(SETTINGS)}")
    try:
        if "_" in value:
            raise ValueError("1_0 is not how a person writes 10")
        number = int(value.strip())
    except ValueError:
        raise InvalidData(f"{name} must be a whole number, not {shown(value)}") from None
    if not setting.low <= number <= setting.high:
        raise InvalidData(f"{name} must be {setting.low} to {setting.high} ({setting.what})")
    return number


def in_force(stored: dict[str, Any]) -> dict[str, int]:
    """Every setting's value: the registry's, else its default; always within its bounds."""
    values = {}
    for name, setting in SETTINGS.items():
        value = stored.get(name, setting.default)
        if not isinstance(value, int) or not setting.low <= value <= setting.high:
            value = setting.default
        values[name] = value
    return values
