"""The verify progress bar: drawn on stderr for a person at a terminal, never on stdout."""

from __future__ import annotations

import io
import sys

import pytest

from bmac_workflow.cli.progress import THRESHOLD, progress_bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_long_job_on_a_terminal_draws_its_bar_on_stderr_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    err, out = Terminal(), Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(sys, "stdout", out)
    with progress_bar(THRESHOLD * 2, "verifying") as advance:
        assert advance is not None
        advance(THRESHOLD)
    assert "verifying" in err.getvalue()
    assert out.getvalue() == ""


def test_no_bar_when_stderr_is_not_a_terminal_or_the_job_is_short(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    with progress_bar(THRESHOLD * 2, "verifying") as advance:
        assert advance is None
    monkeypatch.setattr(sys, "stderr", Terminal())
    with progress_bar(THRESHOLD - 1, "verifying") as advance:
        assert advance is None
