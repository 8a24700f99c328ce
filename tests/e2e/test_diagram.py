"""`bmac diagram` prints the machine's diagram, and the README's copy is that same text."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from bmac_workflow.cli import cli
from bmac_workflow.diagram import mermaid

README = Path(__file__).resolve().parents[2] / "README.md"


def test_bmac_diagram_prints_the_mermaid_text_of_the_machine() -> None:
    result = CliRunner().invoke(cli, ["diagram", "--format", "mermaid"])
    assert result.exit_code == 0
    assert result.stdout == mermaid()


def test_the_readme_diagram_is_the_generated_one() -> None:
    # Regenerate with `bmac diagram` whenever the step declarations (steps.py) change.
    blocks = re.findall(r"```mermaid\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README.md has no ```mermaid block: paste the output of `bmac diagram`"
    assert blocks[0] == mermaid(), "README.md's diagram is stale: paste `bmac diagram` output"
