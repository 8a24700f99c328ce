"""Roles and the one permission matrix: the steps' roles (from their declarations) and the
actions around the steps (declared here).

The machine's transitions take their role guards from the step declarations, the services check
the actions around the machine with `check_permitted`, and `bmac operator roles` prints this
matrix: what is printed is what is enforced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import declared
from .errors import NotPermitted

if TYPE_CHECKING:
    from .states import Workflow

NURSE, SURGEON, AUDITOR, ADMIN = "nurse", "surgeon", "auditor", "admin"
# Quality assurance: holds and releases kit lots, manages devices, closes deviations.
QA = "qa"
ROLES = (NURSE, SURGEON, AUDITOR, ADMIN, QA)
CLINICAL = frozenset({NURSE, SURGEON})


@dataclass(frozen=True)
class Action:
    """A permission of the matrix: who may do it, and the commands it covers."""

    name: str
    roles: frozenset[str]
    commands: str


# The actions that are not steps of the machine (docs/operators.md), in the order the matrix
# shows them:
# `open` comes before the steps, `verify_injection` right after the step that has a verifier,
# the rest after the steps.
OPEN = Action("open", CLINICAL, "case open")
# The second person at the injection checks the specimen at the bedside: clinical staff.
VERIFY_INJECTION = Action("verify_injection", CLINICAL, "step injection --verifier ID")
AFTER_STEPS = (
    # A nurse only corrects entries she signed; a surgeon corrects any (the correction's rule).
    Action("correct", CLINICAL, "case correct (a nurse: only entries they signed)"),
    Action(
        "read",
        frozenset(ROLES),
        "case status|list|timeline, followup due, operator list|roles, protocol list|show, "
        "settings show, audit verify|replay|export, report outcomes, db current, "
        "trace lot|device, device list, deviation list|show",
    ),
    # A patient's own reference in a trace: those who treat or audit, and only when they ask.
    Action("reveal_patient", frozenset({SURGEON, AUDITOR}), "trace lot|device --reveal"),
    # A lot held stops every case that used it; quality assurance or a surgeon decides.
    Action("hold_lot", frozenset({QA, SURGEON}), "lot hold|release"),
    Action("manage_devices", frozenset({ADMIN, QA}), "device add|calibrate|qc"),
    # Never by the operator whose override opened it (the services and the audit check).
    Action("close_deviation", frozenset({QA, SURGEON}), "deviation close (not the overrider)"),
    # The auditor writes nothing but checkpoints; the admin is not listed for them.
    Action("audit_checkpoint", frozenset({AUDITOR}), "audit checkpoint"),
    Action(
        "manage_operators",
        frozenset({ADMIN}),
        "operator add|set-role|deactivate|reset-pin|unlock",
    ),
    Action("activate_protocol", frozenset({ADMIN}), "protocol activate"),
    Action("change_settings", frozenset({ADMIN}), "settings set"),
    Action("backup", frozenset({ADMIN}), "db backup"),
)

# Commands that need no operator at all (docs/operators.md); reading commands need no PIN.
NO_OPERATOR_COMMANDS = ("db upgrade", "db grant", "demo", "diagram", "completion")


def matrix(workflow: Workflow | None = None) -> list[Action]:
    """Every action of the matrix in order, the steps' rows from `workflow` (default: the
    declarations in force)."""
    if workflow is None:
        workflow = declared.workflow()
    rows = [OPEN]
    for step in workflow.steps:
        rows.append(Action(step.trigger, step.roles, step.matrix_commands()))
        if step.has_verifier():
            rows.append(VERIFY_INJECTION)
    return rows + list(AFTER_STEPS)


def permissions() -> dict[str, frozenset[str]]:
    """Action -> the roles allowed to do it, for the declarations in force."""
    return declared.workflow().permissions


def allowed_roles(action: str) -> list[str]:
    """The roles allowed to do `action`, in the order of ROLES."""
    allowed = permissions()[action]
    return [role for role in ROLES if role in allowed]


def _a(role: str) -> str:
    return f"an {role}" if role[:1] in "aeiou" else f"a {role}"


def role_refusal(action: str, role: str) -> NotPermitted:
    """The error (exit 6) for a role that the matrix does not allow to do `action`."""
    allowed = " or ".join(_a(r) for r in allowed_roles(action))
    return NotPermitted(
        f"{_a(role)} may not {action.replace('_', ' ')}: it needs {allowed} "
        "(`bmac operator roles` shows who may do what)"
    )


def check_permitted(action: str, role: str) -> None:
    """Refuse (exit 6) when the role may not perform `action` at all."""
    if role not in permissions()[action]:
        raise role_refusal(action, role)
