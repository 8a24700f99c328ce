"""`bmac diagram`: the state diagram, generated from the machine in states.py."""

from __future__ import annotations

import click


@click.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["mermaid"]),
    default="mermaid",
    show_default=True,
    help="Diagram language.",
)
def diagram(fmt: str) -> None:
    """Print the workflow's state diagram, drawn from the transitions table itself.

    Paste it into a ```mermaid block (GitHub renders it) or https://mermaid.live.

    \b
    Example:
      bmac diagram --format mermaid > states.mmd
    """
    from ..diagram import render

    click.echo(render(fmt), nl=False)
