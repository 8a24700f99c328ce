"""`bmac case list` at a terminal shows a table; piped it prints plain lines; --json is the same
bytes either way. Runs the real process under a pseudo-terminal (Python's `pty`)."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys

import pytest

from tests.conftest import Clinic, advance_to

if sys.platform == "win32":
    pytest.skip("needs a POSIX pseudo-terminal", allow_module_level=True)

BOX = ("┃", "│", "━", "─")


def environment(url: str, **extra: str) -> dict[str, str]:
    keep = {"BMAC_SESSION_DIR"}  # the test's reading session (`bmac login`)
    env = {
        k: v
        for k, v in os.environ.items()
        if (k in keep or not k.startswith("BMAC_")) and k != "NO_COLOR"
    }
    return {**env, "BMAC_DATABASE_URL": url, "TERM": "xterm-256color", "COLUMNS": "160", **extra}


def at_terminal(args: list[str], env: dict[str, str], stderr: int | None = None) -> bytes:
    """Run bmac with stdout (and stderr, unless redirected) on a pseudo-terminal; return what
    the terminal got."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bmac_workflow", *args],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower if stderr is None else stderr,
        env=env,
    )
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            proc.kill()
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(timeout=60) == 0, b"".join(chunks).decode(errors="replace")
    return b"".join(chunks).replace(b"\r\n", b"\n")


def piped(args: list[str], env: dict[str, str]) -> bytes:
    result = subprocess.run(
        [sys.executable, "-m", "bmac_workflow", *args], capture_output=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def url(clinic: Clinic) -> str:
    advance_to(clinic, clinic.open("P-0001"), "filtering")
    clinic.open("P-0002", "right")
    return clinic.url


@pytest.fixture
def still_url(clinic: Clinic) -> str:
    """Two cases whose status runs no clock (no harvest-to-injection window counting down), so
    that two runs a few seconds apart print the same bytes."""
    advance_to(clinic, clinic.open("P-0001"), "marrow_collection")
    clinic.open("P-0002", "right")
    return clinic.url


def test_case_list_at_a_terminal_is_a_table_with_coloured_states(url: str) -> None:
    shown = at_terminal(["case", "list"], environment(url)).decode()
    assert any(mark in shown for mark in BOX)
    assert "\x1b[" in shown  # colour
    assert "P-0001" in shown and "filtering" in shown


def test_case_list_in_a_pipe_is_plain_lines_one_per_case(url: str) -> None:
    out = piped(["case", "list"], environment(url)).decode()
    lines = out.splitlines()
    assert len(lines) == 2 and "P-0002" in lines[0] and "P-0001" in lines[1]
    assert "\x1b[" not in out and "\t" not in out
    assert not any(mark in out for mark in BOX)


def test_no_color_gives_plain_lines_even_at_a_terminal(url: str) -> None:
    shown = at_terminal(["case", "list"], environment(url, NO_COLOR="1")).decode()
    assert "\x1b[" not in shown and not any(mark in shown for mark in BOX)
    assert "P-0001" in shown


def test_json_is_byte_identical_at_a_terminal_and_in_a_pipe(still_url: str) -> None:
    env = environment(still_url)
    from_pipe = piped(["case", "list", "--json"], env)
    # The pty turns \n into \r\n (undone above); the "N shown" footer is stderr, left out.
    at_tty = at_terminal(["case", "list", "--json"], env, stderr=subprocess.DEVNULL)
    assert at_tty == from_pipe
    assert len(json.loads(from_pipe)) == 2
