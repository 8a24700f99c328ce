"""The workflow of the declarations in force, for the modules `states.py` itself imports (the
roles, the protocol): they cannot import it at their top, and an import statement in a function
resolves the name anew at every call, which a step makes several times."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .states import Workflow


def workflow() -> Workflow:
    """`states.workflow()`: the declarations in force (a test may declare others)."""
    return _accessor()()


@functools.cache
def _accessor() -> Callable[[], Workflow]:
    from .states import workflow as in_force

    return in_force
