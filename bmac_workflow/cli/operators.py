"""`bmac operator ...`: who may sign, and with which role."""

from __future__ import annotations

import os
import sys

import click

from .app import App
from .render import emit_json, json_option

ROLE_CHOICE = click.Choice(["nurse", "surgeon", "auditor", "admin"])


def _new_pin(operator_id: str) -> str:
    pin = os.environ.get("BMAC_NEW_PIN")
    if pin is None:
        if not sys.stdin.isatty():
            raise click.UsageError("no new PIN: run in a terminal to be asked, or set BMAC_NEW_PIN")
        pin = click.prompt(
            f"new PIN for {operator_id}", hide_input=True, confirmation_prompt=True, err=True
        )
    return pin


@click.group()
def operator() -> None:
    """Manage operators, their PINs and roles.

    \b
    Example:
      BMAC_NEW_PIN=2468 bmac operator add admin --name "Admin Lee" --role admin
    """


@operator.command("add")
@click.argument("operator_id", metavar="ID")
@click.option("--name", required=True, help="Printed name, as it appears on signatures.")
@click.option("--role", required=True, type=ROLE_CHOICE)
@click.pass_obj
def add(app: App, operator_id: str, name: str, role: str) -> None:
    """Add an operator (the first one must be an admin and needs no sign-in).

    \b
    Example:
      BMAC_NEW_PIN=1357 bmac --operator admin operator add nurse.kim \\
          --name "Kim Ji-woo" --role nurse
    """
    from ..services.operators import add_operator, is_empty

    signer = None if is_empty(app.uow()) else app.sign_in()
    added = add_operator(
        operator_id, name, role, _new_pin(operator_id), signer, app.now(), app.uow(write=True)
    )
    click.echo(f"operator {added.id} added: {added.name}, {added.role}")


@operator.command("list")
@json_option
@click.pass_obj
def list_(app: App, as_json: bool) -> None:
    """List operators and their roles.

    \b
    Example:
      bmac operator list --json
    """
    from ..services.operators import list_operators

    rows = list_operators(app.uow())
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        flags = "" if row["active"] else "  (deactivated)"
        if row["locked_until"]:
            flags += f"  (locked until {row['locked_until']})"
        click.echo(f"{row['id']:<20} {row['role']:<8} {row['name']}{flags}")


@operator.command("roles")
@json_option
def roles(as_json: bool) -> None:
    """Print the role matrix: which role may do what.

    \b
    Example:
      bmac operator roles
    """
    from ..states import PERMISSIONS, ROLES

    if as_json:
        emit_json({action: sorted(roles) for action, roles in PERMISSIONS.items()})
        return
    click.echo(f"{'action':<18}" + "".join(f"{r:<9}" for r in ROLES))
    for action, allowed in PERMISSIONS.items():
        click.echo(f"{action:<18}" + "".join(f"{'yes' if r in allowed else '-':<9}" for r in ROLES))


@operator.command("deactivate")
@click.argument("operator_id", metavar="ID")
@click.pass_obj
def deactivate(app: App, operator_id: str) -> None:
    """Stop an operator from signing (their history stays). Admin only.

    \b
    Example:
      bmac --operator admin operator deactivate nurse.kim
    """
    from ..services.operators import deactivate as run

    run(operator_id, app.sign_in(), app.now(), app.uow(write=True))
    click.echo(f"operator {operator_id} deactivated")


@operator.command("reset-pin")
@click.argument("operator_id", metavar="ID")
@click.pass_obj
def reset_pin(app: App, operator_id: str) -> None:
    """Give an operator a new PIN and lift a lock. Admin only.

    \b
    Example:
      BMAC_NEW_PIN=9753 bmac --operator admin operator reset-pin nurse.kim
    """
    from ..services.operators import reset_pin as run

    signer = app.sign_in()
    run(operator_id, _new_pin(operator_id), signer, app.now(), app.uow(write=True))
    click.echo(f"operator {operator_id} has a new PIN")
