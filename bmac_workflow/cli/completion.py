"""`bmac completion SHELL`: the shell's completion script; and case ids completed from the DB."""

from __future__ import annotations

import os
from typing import Any

import click
from click.shell_completion import CompletionItem, get_completion_class

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_BMAC_COMPLETE"
MAX_CASES = 200


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the completion script for SHELL (bash, zsh or fish).

    Case ids complete from the database given by --db or BMAC_DATABASE_URL.

    \b
    Example:
      eval "$(bmac completion bash)"            # in ~/.bashrc
      bmac completion zsh > ~/.zfunc/_bmac       # zsh, with ~/.zfunc in fpath
      bmac completion fish > ~/.config/fish/completions/bmac.fish
    """
    from . import cli

    shell_class = get_completion_class(shell)
    if shell_class is None:  # click knows all three; kept for a future shell
        raise click.BadParameter(f"no completion for {shell}")
    click.echo(shell_class(cli, {}, "bmac", COMPLETE_VAR).source())


def complete_case_id(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Case ids starting with what was typed, newest first, with patient, knee and state.

    Runs on every TAB, so it is one cheap query; any failure (no database, server down, old
    schema) completes nothing and prints nothing rather than spoil the shell line.
    """
    try:
        url = _database_url(ctx)
        return [
            CompletionItem(str(case_id), help=f"{ref} {knee} {state}")
            for case_id, ref, knee, state in _cases(url)
            if str(case_id).startswith(incomplete)
        ]
    except Exception:
        return []


def _database_url(ctx: click.Context) -> str:
    root = ctx.find_root()
    url = root.params.get("db_url") or os.environ.get("BMAC_DATABASE_URL")
    if url:
        return str(url)
    from ..store.engine import default_url

    return default_url()


def _cases(url: str) -> list[tuple[int, str, str, str]]:
    from ..services.queries import recent_cases

    return recent_cases(url, MAX_CASES)
