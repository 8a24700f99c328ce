"""A progress bar on stderr, only for a person watching a terminal and a long job."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# Below this many items the job ends before a bar is worth drawing.
THRESHOLD = 5000


@contextmanager
def progress_bar(total: int, label: str) -> Iterator[Callable[[int], None] | None]:
    """Yield a callback advancing a bar by n items, or None when no bar should be drawn."""
    if total < THRESHOLD or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress

    # stdout carries the report (and may be piped); the bar is for the person watching.
    with Progress(console=Console(file=sys.stderr), transient=True) as rich_bar:
        task = rich_bar.add_task(label, total=total)
        yield lambda n: rich_bar.advance(task, n)
