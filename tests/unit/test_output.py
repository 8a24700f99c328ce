"""Human output: plain padded lines in a pipe or with NO_COLOR, local time with its zone."""

from __future__ import annotations

import io

import pytest

from bmac_workflow.cli import output as style


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_pad_columns_with_spaces_never_tabs() -> None:
    lines = style.plain_lines([[1, "follow_up", None], [12, "injection\tx", "b"]])
    assert lines == ["1   follow_up    -", "12  injection x  b"]
    assert all("\t" not in line for line in lines)


def test_a_terminal_gets_rich_output_unless_no_color_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    assert style.is_rich(FakeTty())
    assert not style.is_rich(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not style.is_rich(FakeTty())


def test_states_are_coloured_by_stage() -> None:
    assert style.state_style("filtering") == style.state_style("injection") == "yellow"
    assert style.state_style("follow_up") != style.state_style("cancelled")
    assert style.state_style("unknown") == ""


def test_times_show_in_local_time_with_the_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "Asia/Seoul")
    time.tzset()
    try:
        assert style.when("2026-11-25T03:00:00.000000Z") == "2026-11-25 12:00 KST"
        assert style.when(None) == "-"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_a_table_in_a_pipe_prints_only_its_rows(capsys: pytest.CaptureFixture[str]) -> None:
    style.table(["case", "state"], [[3, "closed"], [2, "filtering"]])
    assert capsys.readouterr().out == "3  closed\n2  filtering\n"
