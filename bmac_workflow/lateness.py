"""Late entries: an entry whose clinical time (`--at`) is more than the protocol's limit
(`recording.late_after_minutes`, default 15) before its recording needs a reason, and carries
how late it was recorded; both are part of what its signer signs. Pure: the services apply it
and the audit re-runs it (rerun.py), so the two cannot drift apart."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from .errors import InvalidData
from .rules import minutes_between, refuse_rrn

if TYPE_CHECKING:
    from .protocol import Protocol

LATE_KEY = "recording.late_after_minutes"


def limit(protocol: Protocol) -> float:
    """Minutes an entry may be recorded after its clinical time without a reason."""
    return float(protocol.setting(LATE_KEY))


def minutes_late(at: datetime, recorded_at: datetime, protocol: Protocol) -> float | None:
    """How many minutes after its clinical time an entry is recorded (to the hundredth), when
    that is more than the protocol allows; None for an entry on time."""
    gap = minutes_between(at, recorded_at)
    return round(gap, 2) if gap > limit(protocol) else None


def checked_reason(late: float | None, reason: str | None, protocol: Protocol) -> str | None:
    """The late reason an entry carries: required when it is late, refused when it is not."""
    if reason is not None and not reason.strip():
        raise InvalidData("--late-reason is empty: say in words why the entry is logged late")
    if late is None:
        if reason is not None:
            raise InvalidData(
                f"--late-reason is only for an entry logged more than {limit(protocol):g} min "
                "after it happened: this one is on time; leave the option out"
            )
        return None
    if reason is None:
        raise InvalidData(
            f"this entry is logged {late:.0f} min after its clinical time (--at), the protocol "
            f"allows {limit(protocol):g} min: give --late-reason TEXT saying why it is late"
        )
    refuse_rrn(reason, "--late-reason")
    return reason.strip()


def problem(
    at: datetime, recorded_at: datetime, late: float | None, reason: str | None, protocol: Protocol
) -> str | None:
    """What the audit finds wrong with an entry's lateness as recorded, if anything."""
    expected = minutes_late(at, recorded_at, protocol)
    if late != expected:
        shown = "on time" if expected is None else f"{expected} min late"
        return f"recorded as {late} min late, but its times make it {shown}"
    if expected is not None and not (reason or "").strip():
        return f"logged {expected:.0f} min late without a late reason"
    if expected is None and reason is not None:
        return "carries a late reason but was logged on time"
    return None
