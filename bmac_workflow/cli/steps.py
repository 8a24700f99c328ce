"""`bmac step ...`: the processing steps, from the harvest to the injection.

Each command is made from its step's declaration (cli/step_commands.py).
"""

from __future__ import annotations

import click

from .step_commands import DeclaredGroup


@click.group(cls=DeclaredGroup)
def step() -> None:
    """Log the processing steps of a case, in order.

    \b
    Example:
      bmac --operator nurse.kim step filtering 1 --filter-lot F-778 --filtered-ml 55
    """
