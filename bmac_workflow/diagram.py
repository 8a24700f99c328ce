"""The state diagram of the workflow as mermaid text, drawn by transitions from `states.py`.

transitions' mermaid backend (`GraphMachine(graph_engine="mermaid")`) needs no Graphviz. We feed
it the same table as the workflow machine, with each guard replaced by its name (the guards are
objects, which transitions would print as their repr), and drop the role guards, which the
`bmac operator roles` table already shows. Colour classes and the title header are dropped so
that the text is stable and renders the same on GitHub and in the terminal.
"""

from __future__ import annotations

from typing import Any

from .states import INITIAL, TERMINAL, workflow

FORMATS = ("mermaid",)
_STYLING = ("classDef ", "Class ", "direction ")


def _named(conditions: object) -> list[str]:
    guards = conditions if isinstance(conditions, list) else [conditions]
    return [
        str(getattr(g, "name", g))
        for g in guards
        if not str(getattr(g, "name", "")).startswith("role may")
    ]


def _table() -> list[dict[str, Any]]:
    """The workflow's transitions with guard names in place of guard objects."""
    rows = []
    for row in workflow().rows():
        copy = {k: v for k, v in row.items() if k not in ("conditions", "unless")}
        # Only labels: the graph machine never fires, so `not (...)` reads better than `!`.
        names = _named(row.get("conditions", [])) + [
            f"not ({name})" for name in _named(row.get("unless", []))
        ]
        if names:
            copy["conditions"] = names
        rows.append(copy)
    return rows


def mermaid() -> str:
    """The workflow as a mermaid `stateDiagram-v2`, ending in a newline."""
    from transitions.extensions import GraphMachine
    from transitions.extensions.diagrams_mermaid import Graph

    machine = GraphMachine(
        model=None,
        states=list(workflow().states),
        transitions=_table(),
        initial=INITIAL,
        auto_transitions=False,
        graph_engine="mermaid",
        show_conditions=True,
    )
    # The stub says Graph takes the machine class; at run time it takes the machine.
    text = Graph(machine).get_graph().source  # type: ignore[arg-type]
    lines = text.splitlines()
    body = lines[lines.index("stateDiagram-v2") :]
    kept = [line.rstrip() for line in body if not line.strip().startswith(_STYLING)]
    # Terminal states end the diagram, as the workflow's table says (README).
    kept += [f"  {state} --> [*]" for state in TERMINAL]
    cleaned = [line for i, line in enumerate(kept) if line or (i and kept[i - 1])]
    return "\n".join(cleaned).strip("\n") + "\n"


def render(fmt: str = "mermaid") -> str:
    """The diagram in `fmt` (only mermaid for now)."""
    if fmt != "mermaid":
        raise ValueError(fmt)
    return mermaid()
