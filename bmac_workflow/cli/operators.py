"""`bmac operator ...`: who may sign, and with which role."""

from __future__ import annotations

import os

import click

from .app import App
from .render import emit_json, json_option, when

ROLE_CHOICE = click.Choice(["nurse", "surgeon", "auditor", "admin"])


def _check_new_pin_source(app: App) -> None:
    """Refuse at once (usage, 2) when there will be no way to get a new PIN."""
    if os.environ.get("BMAC_NEW_PIN") is None and not app.interactive():
        raise click.UsageError("no new PIN: run in a terminal to be asked, or set BMAC_NEW_PIN")


def _new_pin(operator_id: str) -> str:
    """The new PIN, from BMAC_NEW_PIN or asked twice without echo; it is only ever hashed."""
    pin = os.environ.get("BMAC_NEW_PIN")
    if pin is None:
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
    from ..people import check_new_operator
    from ..services.operators import add_operator, check_may_manage, is_empty

    _check_new_pin_source(app)
    signer = None
    if not is_empty(app.uow()):
        signer = app.sign_in()
        check_may_manage(None, signer, app.uow())
    check_new_operator(operator_id, name, role)  # before the new PIN is asked for
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

    rows = list_operators(app.now(), app.uow())
    if as_json:
        emit_json(rows)
        return
    from .style import table

    def standing(row: dict[str, object]) -> str:
        if not row["active"]:
            return "deactivated"
        if row["locked_until"]:
            return f"locked until {when(str(row['locked_until']))}"
        return "active"

    table(
        ["id", "role", "name", "status"],
        [[r["id"], r["role"], r["name"], standing(r)] for r in rows],
    )


@operator.command("roles")
@json_option
def roles(as_json: bool) -> None:
    """Print the role matrix: which role may do what.

    \b
    Example:
      bmac operator roles
    """
    if as_json:
        emit_json(
            [
                {"action": action, "commands": commands, "roles": roles}
                for action, commands, roles in role_matrix()
            ]
        )
        return
    click.echo(role_matrix_text())


def role_matrix() -> list[tuple[str, str, list[str]]]:
    """(action, commands, roles allowed) for each row of the one table in `states`."""
    from ..states import PERMISSION_COMMANDS, PERMISSIONS, ROLES

    return [
        (action, PERMISSION_COMMANDS[action], [r for r in ROLES if r in allowed])
        for action, allowed in PERMISSIONS.items()
    ]


def role_matrix_text() -> str:
    """The role matrix as `bmac operator roles` prints it (and the README shows it)."""
    import textwrap

    from ..states import NO_OPERATOR_COMMANDS, PERMISSIONS, ROLES

    rows = role_matrix()
    width = max(len(action) for action, _, _ in rows) + 2
    indent = width + 9 * len(ROLES)
    lines = [f"{'action':<{width}}" + "".join(f"{r:<9}" for r in ROLES) + "commands (bmac ...)"]
    for action, commands, allowed in rows:
        marks = "".join(f"{'yes' if r in allowed else '-':<9}" for r in ROLES)
        wrapped = textwrap.wrap(commands, 96 - indent, break_on_hyphens=False) or [""]
        lines.append(f"{action:<{width}}{marks}{wrapped[0]}")
        lines += [" " * indent + more for more in wrapped[1:]]
    verifiers = " or ".join(r for r in ROLES if r in PERMISSIONS["verify_injection"])
    notes = (
        "Every writing command asks for the operator's PIN (BMAC_PIN in scripts); reading "
        "commands need no PIN. The injection's verifier is a second, active "
        f"{verifiers}, who enters their own PIN (BMAC_VERIFIER_PIN). No operator at all: "
        f"{', '.join(NO_OPERATOR_COMMANDS)}, and `operator add` of the first admin on an "
        "empty database."
    )
    lines += ["", *textwrap.wrap(notes, 96, break_on_hyphens=False)]
    return "\n".join(lines)


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
    from ..services.operators import check_may_manage
    from ..services.operators import reset_pin as run

    _check_new_pin_source(app)
    signer = app.sign_in()
    check_may_manage(operator_id, signer, app.uow())
    run(operator_id, _new_pin(operator_id), signer, app.now(), app.uow(write=True))
    click.echo(f"operator {operator_id} has a new PIN")
