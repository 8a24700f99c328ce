"""Acceptance 4 of issue 15: every text option of every writing command, with arbitrary unicode,
control characters and lengths, exits 0 or 5 (never 1), and writes nothing when it exits 5.

The commands and their text options come from the click command tree, so that a new option of
a writing command is fuzzed as soon as it exists, and a new writing command fails here until it
is given a starting point in WRITING below.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import click
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bmac_workflow.cli import cli
from bmac_workflow.services import deviations, quality
from bmac_workflow.timeutil import utcnow
from tests.conftest import Bmac, Clinic, add_operator_args, advance_to, credentials
from tests.walk import step_args

# Options that are not typed text: the clinical time (its own tests), the global options.
NOT_TEXT = {"at", "db_url", "operator", "protocol_path"}
# Commands that have --at but only read.
READING_WITH_AT = {"audit replay"}
# The groups of quality acts: every command but list and show writes.
QUALITY = ("lot", "device", "deviation")


@dataclass(frozen=True)
class Start:
    """Where a writing command starts: the case's state (None: no case), who runs it, and a
    command line that succeeds (exit 0) as it stands."""

    state: str | None
    who: str
    args: Callable[[str], list[str]]
    # Options that name something that must exist: a value of one may also give 3, 4 or 6
    # besides 0 and 5 (an operator who does not exist fails sign-in before the data; a device
    # not registered is not found; a lot not held cannot be released).
    names_operator: frozenset[str] = frozenset()
    # What must exist first (a device, a held lot, an open deviation); it returns what the
    # command line names in place of a case id.
    setup: Callable[[Clinic], str] | None = None


_fresh = itertools.count(1)


def _new_device(clinic: Clinic) -> str:
    return f"CF-{next(_fresh)}"  # each example its own: hypothesis reuses the clinic


def _device(clinic: Clinic) -> str:
    device = _new_device(clinic)
    due = (utcnow() + timedelta(days=30)).date().isoformat()
    quality.add_device(device, "centrifuge", due, credentials("qa"), utcnow, clinic.db)
    return device


def _new_lot(clinic: Clinic) -> str:
    return f"K-{next(_fresh)}"


def _held(clinic: Clinic) -> str:
    lot = _new_lot(clinic)
    quality.hold(lot, "recall", credentials("qa"), utcnow, clinic.db)
    return lot


def _deviation(clinic: Clinic) -> str:
    clinic.open(at=utcnow() - timedelta(hours=2), late_reason="from the paper sheet")
    return str(deviations.listing(True, clinic.db)[-1]["deviation"])


def _step(trigger: str) -> Callable[[str], list[str]]:
    return lambda case_id: step_args(trigger, case_id)


WRITING: dict[str, Start] = {
    "case open": Start(None, "nurse", lambda c: ["case", "open", "--patient", "P-1", "--knee",
                                                  "left"]),
    "case assess": Start("imaging_assessment", "surgeon", _step("assess")),
    "step collection": Start("marrow_collection", "nurse", _step("collect")),
    "step filtering": Start("filtering", "nurse", _step("filter")),
    "step centrifugation": Start("centrifugation", "nurse", _step("centrifuge")),
    "step plasma-removal": Start("plasma_removal", "nurse", _step("remove_plasma")),
    "step concentration": Start("concentration", "nurse", _step("concentrate")),
    "step injection": Start("injection", "surgeon", _step("inject"),
                            frozenset({"verifier_id"})),
    "followup record": Start("follow_up", "nurse", lambda c: ["followup", "record", c, "--visit",
                                                               "1w", "--vas", "4"]),
    "case cancel": Start("imaging_assessment", "surgeon",
                         lambda c: ["case", "cancel", c, "--reason", "withdrew"]),
    "case close": Start("follow_up", "surgeon",
                        lambda c: ["case", "close", c, "--reason", "moved away"]),
    "case correct": Start("centrifugation", "nurse", lambda c: [
        "case", "correct", c, "--entry", "4", "--set", "filtered_ml=54", "--reason", "misread"]),
    "operator add": Start(None, "admin", lambda c: [*add_operator_args("kim", "Kim", "nurse")]),
    "operator deactivate": Start(None, "admin", lambda c: ["operator", "deactivate", "nurse2"],
                                 frozenset({"operator_id"})),
    "operator reset-pin": Start(None, "admin", lambda c: ["operator", "reset-pin", "nurse2"],
                                frozenset({"operator_id"})),
    "operator set-role": Start(None, "admin", lambda c: [
        "operator", "set-role", "nurse2", "--role", "surgeon"], frozenset({"operator_id"})),
    "operator unlock": Start(None, "admin", lambda c: ["operator", "unlock", "nurse2"],
                             frozenset({"operator_id"})),
    "settings set": Start(None, "admin", lambda c: ["settings", "set", "max_failed_pins", "4"]),
    "lot hold": Start(None, "qa", lambda c: ["lot", "hold", c, "--reason", "recall"],
                      setup=_new_lot),
    "lot release": Start(None, "qa", lambda c: ["lot", "release", c, "--reason", "cleared"],
                         frozenset({"lot_ref"}), setup=_held),
    "device add": Start(None, "qa", lambda c: [
        "device", "add", c, "--kind", "centrifuge", "--calibration-due", "2030-01-01"],
        setup=_new_device),
    "device calibrate": Start(None, "qa", lambda c: [
        "device", "calibrate", c, "--due", "2030-01-01"], frozenset({"device_id"}),
        setup=_device),
    "device qc": Start(None, "qa", lambda c: ["device", "qc", c, "--note", "ok", "--passed"],
                       frozenset({"device_id"}), setup=_device),
    "deviation close": Start(None, "qa", lambda n: [
        "deviation", "close", n, "--root-cause", "paper", "--action", "bedside"],
        setup=_deviation),
}  # fmt: skip


def _commands() -> list[tuple[str, click.Command]]:
    ctx = click.Context(cli)
    found = []

    def walk(command: click.Command, path: list[str]) -> None:
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None
                walk(sub, [*path, name])
        else:
            found.append((" ".join(path), command))

    walk(cli, [])
    return found


def _writes(path: str, command: click.Command) -> bool:
    """A writing command: it takes --at (SPEC §5) or manages operators and settings."""
    names = {p.name for p in command.params}
    if path in READING_WITH_AT:
        return False
    return (
        "at" in names
        or (path.startswith("operator ") and "operator_id" in names)
        or path == "settings set"
        or (path.split()[0] in QUALITY and not path.endswith(("list", "show")))
    )


def text_options() -> list[tuple[str, str]]:
    """(command, parameter) for every typed-text parameter of every writing command."""
    return [
        (path, param.name or "")
        for path, command in _commands()
        if _writes(path, command)
        for param in command.params
        if isinstance(param.type, click.types.StringParamType) and param.name not in NOT_TEXT
    ]


TEXT_OPTIONS = text_options()


def test_every_writing_command_with_text_has_a_starting_point() -> None:
    commands = {path for path, _ in TEXT_OPTIONS}
    assert commands <= set(WRITING), f"add a Start for {sorted(commands - set(WRITING))}"
    assert len(TEXT_OPTIONS) >= 20


def _param(path: str, name: str) -> click.Parameter:
    command = dict(_commands())[path]
    return next(p for p in command.params if p.name == name)


def with_value(args: list[str], param: click.Parameter, value: str) -> list[str]:
    """`args` with `param` given `value` (an option as --flag=value; an argument after --)."""
    if isinstance(param, click.Argument):
        return _with_argument(args, param)
    flag = max(param.opts, key=len)
    if param.name == "settings":  # --set FIELD=VALUE: the value is what a person types
        value = "filtered_ml=" + value
    kept, skip = [], False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg == flag:
            skip = True
            continue
        kept.append(arg)
    return [*kept, f"{flag}={value}"]


def _with_argument(args: list[str], param: click.Argument) -> list[str]:
    # The command's words, then its options, then `--` and the arguments in order.
    words = args[:2]
    rest = args[2:]
    positional, options = [], []
    i = 0
    while i < len(rest):
        if rest[i].startswith("--"):
            options += rest[i : i + 2]
            i += 2
        else:
            positional.append(rest[i])
            i += 1
    index = _argument_index(" ".join(words), param.name or "")
    positional[index] = FUZZED
    return [*words, *options, "--", *positional]


def _argument_index(path: str, name: str) -> int:
    command = dict(_commands())[path]
    arguments = [p.name for p in command.params if isinstance(p, click.Argument)]
    return arguments.index(name)


FUZZED = "\0fuzzed\0"

TEXTS = st.one_of(
    st.text(max_size=30),
    st.text(min_size=60, max_size=1200),
    st.text(st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Pd", "Nd", "Sm"]), max_size=40),
    st.sampled_from(
        ["", " ", "900101-1234567", "9001011234567", "900101\uff0d1234567", "\x1b[2J\x07",
         "=HYPERLINK(\"x\")", "\u202eevil", "x" * 10_000, "nurse", "NURSE", "-", "--help"]
    ),
)  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(("path", "name"), TEXT_OPTIONS, ids=[f"{p}:{n}" for p, n in TEXT_OPTIONS])
def test_a_text_option_exits_0_or_5_and_writes_nothing_on_5(
    clinic: Clinic, bmac: Bmac, path: str, name: str
) -> None:
    start = WRITING[path]
    param = _param(path, name)
    allowed = {0, 5} | ({3, 4, 6} if name in start.names_operator else set())

    @settings(
        max_examples=12,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(TEXTS)
    def attempt(value: str) -> None:
        case_id = start.setup(clinic) if start.setup is not None else ""
        if start.state is not None:
            opened = clinic.open()
            advance_to(clinic, opened, start.state)
            case_id = str(opened)
        args = with_value(start.args(case_id), param, value)
        args = [value if a == FUZZED else a for a in args]
        before = clinic.counts()
        result = run(bmac, args, start.who)
        assert result.exit_code in allowed, (args, result.stderr, result.stdout)
        assert "Traceback" not in result.stderr
        if result.exit_code != 0:
            lines = result.stderr.splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
            assert len(lines[0]) < 600, "an error echoes at most 80 characters of the input"
        if result.exit_code == 5:
            assert clinic.counts() == before

    attempt()


def run(bmac: Bmac, args: list[str], who: str) -> Any:
    return bmac(*args, who=who, env={"BMAC_NEW_PIN": "582914"})
