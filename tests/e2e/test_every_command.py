"""Every command has help with an example, and every command is in the README."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from bmac_workflow.cli import cli

README = Path(__file__).resolve().parents[2] / "README.md"


def walk(command: click.Command, path: list[str]) -> Iterator[tuple[list[str], click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        ctx = click.Context(command, info_name=path[-1])
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)  # BmacGroup loads its lazy subcommands here
            assert sub is not None, f"{' '.join(path)} lists {name} but cannot load it"
            yield from walk(sub, [*path, name])


COMMANDS = {" ".join(path): command for path, command in walk(cli, ["bmac"])}


def test_the_walk_finds_the_commands_of_every_group() -> None:
    for expected in (
        "bmac case open",
        "bmac step injection",
        "bmac diagram",
        "bmac report outcomes",
    ):
        assert expected in COMMANDS


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_each_command_has_help_with_an_example(path: str) -> None:
    args = path.split()[1:]
    for flag in ("--help", "-h"):
        result = CliRunner().invoke(cli, [*args, flag])
        assert result.exit_code == 0, result.output
        assert "Example:" in result.stdout, f"`{path} --help` shows no example"
        example = result.stdout.split("Example:", 1)[-1]
        assert re.match(r"\s*\n\s+(\S+=\S+ )*(eval \"\$\()?bmac ", example), (
            f"`{path} --help`'s example does not start with a bmac command line"
        )


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_each_command_appears_in_the_readme(path: str) -> None:
    assert path in README.read_text(), f"README.md never mentions `{path}`"
