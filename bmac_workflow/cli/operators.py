"""`bmac operator ...`: who may sign, and with which role."""

from __future__ import annotations

import os

import click

from .app import App
from .options import json_option
from .output import emit_json, when

ROLE_CHOICE = click.Choice(["nurse", "surgeon", "auditor", "admin", "qa"])


def _check_new_pin_source(app: App) -> None:
    """Refuse at once (usage, 2) when there will be no way to get a new PIN."""
    if os.environ.get("BMAC_NEW_PIN") is None and not app.interactive():
        raise click.UsageError("no new PIN: run in a terminal to be asked, or set BMAC_NEW_PIN")


@click.group()
def operator() -> None:
    """Manage operators, their PINs and roles.

    \b
    Example:
      BMAC_NEW_PIN=482916 bmac operator add admin --name "Admin Lee" --role admin
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
      BMAC_NEW_PIN=735184 bmac --operator admin operator add nurse.kim \\
          --name "Kim Ji-woo" --role nurse
    """
    from ..services.operators import add_operator

    _check_new_pin_source(app)
    added = add_operator(
        operator_id,
        name,
        role,
        app.new_pin(operator_id),
        app.credentials(),
        app.now,
        app.database(create=True),
    )
    who = added.operator
    click.echo(f"operator {who.id} added: {who.name}, {who.role}")
    if added.root_fingerprint:
        click.echo(
            f"the clinic's root key (write it down: every signature leads back to it): "
            f"{added.root_fingerprint}"
        )


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

    rows = list_operators(app.now(), app.database(read_only=True))
    if as_json:
        emit_json(rows)
        return
    from .output import table

    def standing(row: dict[str, object]) -> str:
        if not row["active"]:
            return "deactivated"
        if row["locked_until"]:
            return f"locked until {when(str(row['locked_until']))}"
        if row["must_change_pin"]:
            return "active, must choose a new PIN"
        if not row["key"]:
            return "active, no key yet (first sign-in makes one)"
        return "active"

    table(
        ["id", "role", "name", "status", "key"],
        [[r["id"], r["role"], r["name"], standing(r), r["key"] or "-"] for r in rows],
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
    """(action, commands, roles allowed) for each row of the one matrix in `roles`."""
    from ..roles import ROLES, matrix

    return [(a.name, a.commands, [r for r in ROLES if r in a.roles]) for a in matrix()]


def role_matrix_text() -> str:
    """The role matrix as `bmac operator roles` prints it (and the README shows it)."""
    import textwrap

    from ..roles import NO_OPERATOR_COMMANDS, ROLES, allowed_roles

    rows = role_matrix()
    width = max(len(action) for action, _, _ in rows) + 2
    indent = width + 9 * len(ROLES)
    lines = [f"{'action':<{width}}" + "".join(f"{r:<9}" for r in ROLES) + "commands (bmac ...)"]
    for action, commands, allowed in rows:
        marks = "".join(f"{'yes' if r in allowed else '-':<9}" for r in ROLES)
        wrapped = textwrap.wrap(commands, 96 - indent, break_on_hyphens=False) or [""]
        lines.append(f"{action:<{width}}{marks}{wrapped[0]}")
        lines += [" " * indent + more for more in wrapped[1:]]
    verifiers = " or ".join(allowed_roles("verify_injection"))
    notes = (
        "Every writing command asks for the operator's PIN (BMAC_PIN in scripts); reading "
        "commands ask none, and those that show cases read in the session of `bmac login` or "
        "with BMAC_PIN (trace --reveal too). The injection's verifier is a second, active "
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

    run(operator_id, app.credentials(), app.now, app.database())
    click.echo(f"operator {operator_id} deactivated")


@operator.command("reset-pin")
@click.argument("operator_id", metavar="ID")
@click.pass_obj
def reset_pin(app: App, operator_id: str) -> None:
    """Give an operator a new key under a PIN you give them, which they must change at their
    next sign-in; lifts a lock. Admin only.

    \b
    Example:
      BMAC_NEW_PIN=916384 bmac --operator admin operator reset-pin nurse.kim
    """
    from ..services.operators import reset_pin as run

    _check_new_pin_source(app)
    run(operator_id, app.new_pin(operator_id), app.credentials(), app.now, app.database())
    click.echo(f"operator {operator_id} has a new key and PIN; they choose their own PIN next")


@operator.command("set-role")
@click.argument("operator_id", metavar="ID")
@click.option("--role", required=True, type=ROLE_CHOICE, help="The operator's new role.")
@click.pass_obj
def set_role(app: App, operator_id: str, role: str) -> None:
    """Give an operator another role (entries already signed keep theirs). Admin only.

    \b
    Example:
      bmac --operator admin operator set-role nurse.kim --role surgeon
    """
    from ..services.operators import set_role as run

    run(operator_id, role, app.credentials(), app.now, app.database())
    click.echo(f"operator {operator_id} is now {role}")


@operator.command("unlock")
@click.argument("operator_id", metavar="ID")
@click.pass_obj
def unlock(app: App, operator_id: str) -> None:
    """Lift a lock from wrong PINs before it runs out. Admin only.

    \b
    Example:
      bmac --operator admin operator unlock nurse.kim
    """
    from ..services.operators import unlock as run

    run(operator_id, app.credentials(), app.now, app.database())
    click.echo(f"operator {operator_id} unlocked")
