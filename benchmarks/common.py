"""What every benchmark shares: a figure with its floor and target, timing and printing helpers."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Figure:
    """One measured figure, the floor it is compared with, and the target it must keep.

    `kind` says how the ratio reads: "speed" is floor time / our time (higher is better, target a
    minimum), "time" is our time / floor time (lower is better, target a maximum), "limit" is an
    absolute time in ms against a maximum (the floor is printed for scale), "info" has no target.
    """

    name: str
    value: float
    unit: str
    floor: float | None
    floor_label: str
    kind: str
    target: float | None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """The figure against its floor, in the sense of `kind`."""
        if self.floor is None or self.floor == 0 or self.value == 0:
            return None
        return self.floor / self.value if self.kind == "speed" else self.value / self.floor

    @property
    def holds(self) -> bool | None:
        """Whether the target holds (None when there is no target)."""
        if self.target is None:
            return None
        if self.kind == "speed":
            return self.ratio is not None and self.ratio >= self.target
        if self.kind == "time":
            return self.ratio is not None and self.ratio <= self.target
        return self.value <= self.target

    def target_text(self) -> str:
        """The target as a person reads it."""
        if self.target is None:
            return "-"
        if self.kind == "speed":
            return f">= {self.target:.2f}x floor"
        if self.kind == "time":
            return f"<= {self.target:.2f}x floor"
        return f"<= {self.target:g} {self.unit}"

    def line(self) -> str:
        """The one line `run.py` prints for this figure."""
        ratio = self.ratio
        ratio_text = f"{ratio:.2f}x" if ratio is not None else "-"
        floor_text = f"{self.floor:.4g} {self.unit} ({self.floor_label})" if self.floor else "-"
        verdict = {True: "ok", False: "MISSED", None: "-"}[self.holds]
        text = (
            f"FIGURE {self.name:<20} {self.value:>10.4g} {self.unit:<10} floor {floor_text:<40} "
            f"ratio {ratio_text:<6} target {self.target_text():<16} {verdict}"
        )
        return text + (f"  [{self.note}]" if self.note else "")

    def row(self) -> str:
        """The figure as a row of the README's Markdown table."""
        ratio = self.ratio
        floor_text = f"{self.floor:.4g} {self.unit} ({self.floor_label})" if self.floor else "-"
        verdict = {True: "ok", False: "**missed**", None: "-"}[self.holds]
        return (
            f"| {self.name} | {self.value:.4g} {self.unit} | {floor_text} | "
            f"{f'{ratio:.2f}x' if ratio is not None else '-'} | {self.target_text()} | {verdict} |"
        )


def skipped(name: str, why: str) -> str:
    """The line printed instead of a figure that could not be measured."""
    return f"FIGURE {name:<20} skipped: {why}"


def median_ms(func: Callable[[], Any], runs: int) -> float:
    """The median wall time of `func` in milliseconds, after one warm-up call."""
    func()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def fresh(*paths: Path) -> None:
    """Remove SQLite databases a run made before (with their WAL and shared-memory files), so
    that a kept --workdir can be run in again."""
    for path in paths:
        for suffix in ("", "-wal", "-shm", "-journal"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
