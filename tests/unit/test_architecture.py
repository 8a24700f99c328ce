"""The layout the code promises (CONTRIBUTING.md): a step's name lives only in its declaration
and its data model; only the store talks to the database; the CLI calls the services."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "bmac_workflow"


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def imports(path: Path) -> set[str]:
    """Every module `path` imports, absolute (relative imports resolved)."""
    tree = ast.parse(path.read_text())
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def test_a_processing_step_is_named_only_by_its_declaration_and_its_data_model() -> None:
    naming = [
        p.relative_to(PACKAGE).as_posix()
        for p in modules()
        if re.search(r"centrifug|plasma", p.read_text(errors="replace"))
    ]
    assert naming == ["step_data.py", "steps.py"]


def test_no_module_outside_the_store_imports_sqlalchemy_or_the_tables() -> None:
    offenders = {
        p.relative_to(PACKAGE).as_posix(): sorted(
            name
            for name in imports(p)
            if name.split(".")[0] == "sqlalchemy" or name.startswith("bmac_workflow.store.tables")
        )
        for p in PACKAGE.rglob("*.py")
        if "store" not in p.relative_to(PACKAGE).parts
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_cli_module_imports_the_repository_or_opens_a_unit_of_work() -> None:
    for path in (PACKAGE / "cli").glob("*.py"):
        names = imports(path)
        assert not any(n.startswith("bmac_workflow.store.repository") for n in names), path
        assert not any(n.startswith("bmac_workflow.store.unit_of_work") for n in names), path
        assert ".repo." not in path.read_text(), path


def test_the_domain_imports_neither_the_store_nor_click_nor_the_services() -> None:
    domain = [p for p in PACKAGE.glob("*.py") if p.name not in ("__main__.py",)]
    for path in domain:
        for name in imports(path):
            assert not name.startswith(("bmac_workflow.store", "bmac_workflow.services")), (
                path.name,
                name,
            )
            assert name.split(".")[0] != "click", (path.name, name)


def test_modules_stay_small_enough_to_read_in_one_sitting() -> None:
    # Declarations aside (the steps, their data models), a module is read in one sitting.
    declarations = {"steps.py", "step_data.py"}
    long = {
        p.relative_to(PACKAGE).as_posix(): n
        for p in PACKAGE.rglob("*.py")
        if p.name not in declarations and (n := len(p.read_text().splitlines())) > 300
    }
    assert long == {}
