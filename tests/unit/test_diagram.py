"""The state diagram is drawn from the machine in states.py, and only from it."""

from __future__ import annotations

import re

from bmac_workflow.diagram import mermaid
from bmac_workflow.states import INITIAL, TERMINAL, workflow


def edges(text: str) -> set[tuple[str, str, str]]:
    found = re.findall(r"^\s*(\w+) --> (\w+): (\w+)", text, flags=re.M)
    return {(a, b, t) for a, b, t in found}


def test_every_transition_of_the_table_is_an_edge_of_the_diagram_and_nothing_else() -> None:
    expected = set()
    for row in workflow().rows():
        sources = row["source"] if isinstance(row["source"], list) else [row["source"]]
        for source in sources:
            expected.add((str(source), str(row["dest"]), str(row["trigger"])))
    assert edges(mermaid()) == expected


def test_the_diagram_starts_at_the_initial_state_and_ends_at_each_terminal_one() -> None:
    text = mermaid()
    assert text.startswith("stateDiagram-v2\n")
    assert f"[*] --> {INITIAL}" in text
    for state in TERMINAL:
        assert f"{state} --> [*]" in text


def test_guards_are_shown_by_name_not_as_python_objects() -> None:
    text = mermaid()
    assert "specimen identity" in text and "not (candidate or overridden)" in text
    assert "Guard(" not in text and "lambda" not in text and "role may" not in text


def test_the_diagram_is_the_same_text_every_time() -> None:
    assert mermaid() == mermaid()
