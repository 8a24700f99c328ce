"""The wheel ships every package of the source tree, migrations included."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_in_the_tree_is_listed_for_the_wheel() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "bmac_workflow").rglob("__init__.py")
    }
    found |= {
        "bmac_workflow.migrations." + ".".join(p.parent.relative_to(ROOT / "migrations").parts)
        for p in (ROOT / "migrations").rglob("__init__.py")
        if p.parent != ROOT / "migrations"
    } | {"bmac_workflow.migrations"}
    assert found == listed
    assert config["package-dir"]["bmac_workflow.migrations"] == "migrations"
