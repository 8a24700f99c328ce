"""Every command of the README, run as every role: the exit code the role matrix promises (0 or 6),
and nothing written by a refused one.

One table, one row per command. To cover a new command, add one `Row`: its arguments (with the
placeholders below), the roles the role matrix (docs/operators.md) lets run it, the
`roles.permissions()` action that enforces it, and the state its case must be in. A step's
arguments are its happy ones (`step_row`). Placeholders: {case} the prepared case's id,
{target} a fresh nurse to act on (locked, for an unlock), {tmp} an empty directory, and what a
row's `prepare` returns ({protocol} a new protocol file, {minutes} a new lock period, {version}
the active protocol's version).

A refused command must leave every row of every table as it was, the signed registry's
included; an admin's act that succeeds adds exactly its own acts to the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import takewhile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import inspect, text

from bmac_workflow import roles
from bmac_workflow.errors import NotPermitted
from bmac_workflow.protocol import default_text, load
from bmac_workflow.services import operators, site_settings
from bmac_workflow.services.signing import Credentials, sign_in
from bmac_workflow.settings import SETTINGS
from bmac_workflow.timeutil import utcnow
from tests.conftest import PINS, Clinic, advance_to
from tests.walk import pin_of, step_args

NURSE, SURGEON, AUDITOR, ADMIN, QA = "nurse", "surgeon", "auditor", "admin", "qa"
ANYONE = frozenset(roles.ROLES)
CLINICAL = frozenset({NURSE, SURGEON})
NEW_PIN = {"BMAC_NEW_PIN": "731904"}


@dataclass(frozen=True)
class Row:
    """One command of the README and who may run it."""

    args: tuple[str, ...]
    # The roles that may run it (docs/operators.md). None: the command needs no operator at all.
    roles: frozenset[str] | None
    # The PIN-checked action of roles.permissions() that enforces it; None for reading commands
    # (they need no PIN) and for commands that need no operator.
    permission: str | None = None
    # The state the case of {case} is driven to along the happy path before the command runs.
    case_in: str | None = None
    # The case's harvest lies this long before now (for the window override).
    harvest_ago: timedelta | None = None
    env: dict[str, str] = field(default_factory=dict)
    # Anything else to set up (given the runner's empty directory); returns more placeholders.
    prepare: Callable[[Clinic, Path], dict[str, str]] | None = None
    # What it writes is a file, not rows (a backup); it runs on SQLite only.
    writes_file: bool = False
    # The signed acts it adds to the registry when it succeeds (an admin's act: one).
    acts: int = 0

    @property
    def writes(self) -> bool:
        return self.permission is not None


def a_fresh_nurse(clinic: Clinic, tmp: Path) -> dict[str, str]:
    n = clinic.count("operators")
    target = f"target{n}"
    operators.add_operator(
        target,
        "Target Nurse",
        NURSE,
        lambda: "731904",
        clinic.credentials(ADMIN),
        utcnow,
        clinic.db,
    )
    return {"target": target}


def a_locked_nurse(clinic: Clinic, tmp: Path) -> dict[str, str]:
    """A fresh nurse who typed a wrong PIN as many times as locks her."""
    found = a_fresh_nurse(clinic, tmp)
    for _ in range(SETTINGS["max_failed_pins"].default):
        with pytest.raises(NotPermitted):
            sign_in(Credentials(found["target"], lambda: pin_of("nobody")), utcnow(), clinic.db)
    return found


def a_new_protocol(clinic: Clinic, tmp: Path) -> dict[str, str]:
    """A protocol file under a version never activated."""
    path = tmp / "clinic.toml"
    path.write_text(default_text().replace(load(None).version, f"clinic-{tmp.name}"))
    return {"protocol": str(path)}


def a_new_lock_period(clinic: Clinic, tmp: Path) -> dict[str, str]:
    """A lock period other than the one in force, within its bounds."""
    current = {s["name"]: s["value"] for s in site_settings.show(clinic.db)}["lock_minutes"]
    return {"minutes": str(current % SETTINGS["lock_minutes"].high + 1)}


def the_active_version(clinic: Clinic, tmp: Path) -> dict[str, str]:
    return {"version": load(None).version}


def a_new_lot(clinic: Clinic, tmp: Path) -> dict[str, str]:
    return {"lot": f"L-{tmp.name}"}


def a_new_device(clinic: Clinic, tmp: Path) -> dict[str, str]:
    return {"new_device": f"D-{tmp.name}"}  # an identifier: at most 64 characters


def a_held_lot(clinic: Clinic, tmp: Path) -> dict[str, str]:
    from bmac_workflow.services.quality import hold

    found = a_new_lot(clinic, tmp)
    hold(found["lot"], "recall", clinic.credentials(QA), utcnow, clinic.db)
    return found


def a_device(clinic: Clinic, tmp: Path) -> dict[str, str]:
    from bmac_workflow.services.quality import add_device

    device = f"D-{tmp.name}"
    add_device(device, "scale", "2030-01-01", clinic.credentials(QA), utcnow, clinic.db)
    return {"device": device}


def a_deviation(clinic: Clinic, tmp: Path) -> dict[str, str]:
    """A case a second surgeon assessed with an override: an open deviation of theirs."""
    from bmac_workflow.services.cases import StepRequest, log_step
    from bmac_workflow.services.deviations import listing
    from tests.walk import step_values

    n = clinic.count("operators")
    other = f"surgeon{n}"
    operators.add_operator(
        other, "Other Surgeon", SURGEON, lambda: "731904", clinic.credentials(ADMIN), utcnow,
        clinic.db,
    )  # fmt: skip
    case_id = clinic.open()
    values = {**step_values("assess", case_id), "kl_grade": 1, "override_reason": "pain"}
    log_step(
        StepRequest(case_id, "assess", values),
        Credentials(other, lambda: "731904"),
        utcnow,
        clinic.db,
    )
    return {"deviation": str(listing(True, clinic.db)[-1]["deviation"])}


CASE: Any = "{case}"  # the placeholder of the prepared case's id


def step_row(trigger: str, **changes: Any) -> tuple[str, ...]:
    """The arguments of a step on the prepared case: its happy values, and `changes`."""
    return tuple(step_args(trigger, CASE, **changes))


ROWS: list[Row] = [
    # -- no operator at all
    Row(("db", "upgrade"), None),
    Row(("demo",), None),
    # -- reading: any role, no PIN
    Row(("db", "current"), ANYONE),
    Row(("operator", "list"), ANYONE),
    Row(("operator", "roles"), ANYONE),
    Row(("case", "list"), ANYONE, case_in="filtering"),
    Row(("case", "status", "{case}"), ANYONE, case_in="filtering"),
    Row(("case", "timeline", "{case}"), ANYONE, case_in="filtering"),
    Row(("followup", "due", "--within", "30d"), ANYONE, case_in="follow_up"),
    Row(("audit", "verify"), ANYONE, case_in="filtering"),
    Row(("audit", "verify", "--full"), ANYONE, case_in="filtering"),
    Row(("audit", "verify", "{case}"), ANYONE, case_in="filtering"),
    Row(("protocol", "list"), ANYONE),
    Row(("protocol", "show"), ANYONE),
    Row(("protocol", "show", "{version}"), ANYONE, prepare=the_active_version),
    Row(("settings", "show"), ANYONE),
    # -- operators
    Row(
        ("operator", "add", "new.person", "--name", "New Person", "--role", "nurse"),
        frozenset({ADMIN}),
        "manage_operators",
        env=NEW_PIN,
        acts=1,
    ),
    Row(
        ("operator", "set-role", "{target}", "--role", "surgeon"),
        frozenset({ADMIN}),
        "manage_operators",
        prepare=a_fresh_nurse,
        acts=1,
    ),
    Row(
        ("operator", "deactivate", "{target}"),
        frozenset({ADMIN}),
        "manage_operators",
        prepare=a_fresh_nurse,
        acts=1,
    ),
    Row(
        ("operator", "reset-pin", "{target}"),
        frozenset({ADMIN}),
        "manage_operators",
        env=NEW_PIN,
        prepare=a_fresh_nurse,
        acts=1,
    ),
    Row(
        ("operator", "unlock", "{target}"),
        frozenset({ADMIN}),
        "manage_operators",
        prepare=a_locked_nurse,
        acts=1,
    ),
    # -- the clinic's protocol and settings
    Row(
        ("protocol", "activate", "{protocol}"),
        frozenset({ADMIN}),
        "activate_protocol",
        prepare=a_new_protocol,
        acts=1,
    ),
    Row(
        ("settings", "set", "lock_minutes", "{minutes}"),
        frozenset({ADMIN}),
        "change_settings",
        prepare=a_new_lock_period,
        acts=1,
    ),
    # -- the case
    Row(("case", "open", "--patient", "P-7001", "--knee", "left"), CLINICAL, "open"),
    Row(step_row("assess"), frozenset({SURGEON}), "assess", case_in="imaging_assessment"),
    Row(
        step_row("assess", kl_grade=1, override_reason="pain out of proportion"),
        frozenset({SURGEON}),
        "assess",
        case_in="imaging_assessment",
    ),
    Row(step_row("collect"), CLINICAL, "collect", case_in="marrow_collection"),
    Row(step_row("filter"), CLINICAL, "filter", case_in="filtering"),
    Row(step_row("centrifuge"), CLINICAL, "centrifuge", case_in="centrifugation"),
    Row(step_row("remove_plasma"), CLINICAL, "remove_plasma", case_in="plasma_removal"),
    Row(step_row("concentrate"), CLINICAL, "concentrate", case_in="concentration"),
    Row(step_row("inject"), frozenset({SURGEON}), "inject", case_in="injection"),
    Row(
        step_row("inject", override_reason="theatre delay"),
        frozenset({SURGEON}),
        "inject",
        case_in="injection",
        harvest_ago=timedelta(hours=4),
    ),
    Row(step_row("record_follow_up"), CLINICAL, "record_follow_up", case_in="follow_up"),
    Row(
        ("case", "cancel", "{case}", "--reason", "patient withdrew consent"),
        frozenset({SURGEON}),
        "cancel",
        case_in="filtering",
    ),
    Row(
        ("case", "close", "{case}", "--reason", "lost to follow-up"),
        frozenset({SURGEON}),
        "close",
        case_in="follow_up",
    ),
    Row(
        (
            "case",
            "correct",
            "{case}",
            "--entry",
            "4",
            "--set",
            "filter_lot=F-2",
            "--reason",
            "typo",
        ),
        CLINICAL,
        "correct",
        case_in="centrifugation",
    ),
    Row(("audit", "checkpoint"), frozenset({AUDITOR}), "audit_checkpoint", case_in="filtering"),
    Row(("audit", "replay", "{case}"), ANYONE, case_in="filtering"),
    Row(("audit", "export", "{case}", "--format", "json"), ANYONE, case_in="filtering"),
    Row(("audit", "export", "{case}", "--format", "fhir"), ANYONE, case_in="follow_up"),
    Row(("db", "backup", "{tmp}/backup.sqlite3"), frozenset({ADMIN}), "backup", writes_file=True),
    Row(("report", "outcomes"), ANYONE, case_in="follow_up"),
    Row(("audit", "access"), ANYONE, case_in="filtering"),
    Row(("logout",), ANYONE),
    Row(("diagram",), None),
    Row(
        (
            "db",
            "grant",
            "--app-role",
            "bmac_app",
            "--auditor-role",
            "bmac_auditor",
            "--schema",
            "public",
            "--print",
        ),
        None,
    ),
    Row(("completion", "bash"), None),
    # -- quality records (issue 17)
    Row(("trace", "lot", "K-2291"), ANYONE, case_in="filtering"),
    Row(("trace", "device", "CF-02", "--json"), ANYONE, case_in="plasma_removal"),
    # A read that only some roles may make (roles.py: reveal_patient), with no second PIN.
    Row(("trace", "lot", "K-2291", "--reveal"), frozenset({SURGEON, AUDITOR}), case_in="filtering"),
    Row(("device", "list"), ANYONE, prepare=a_device),
    Row(("deviation", "list", "--open"), ANYONE, prepare=a_deviation),
    Row(("deviation", "show", "{deviation}"), ANYONE, prepare=a_deviation),
    Row(
        ("lot", "hold", "{lot}", "--reason", "recall"),
        frozenset({QA, SURGEON}),
        "hold_lot",
        prepare=a_new_lot,
    ),
    Row(
        ("lot", "release", "{lot}", "--reason", "cleared"),
        frozenset({QA, SURGEON}),
        "hold_lot",
        prepare=a_held_lot,
    ),
    Row(
        ("device", "add", "{new_device}", "--kind", "scale", "--calibration-due", "2030-01-01"),
        frozenset({ADMIN, QA}),
        "manage_devices",
        prepare=a_new_device,
    ),
    Row(
        ("device", "calibrate", "{device}", "--due", "2031-01-01"),
        frozenset({ADMIN, QA}),
        "manage_devices",
        prepare=a_device,
    ),
    Row(
        ("device", "qc", "{device}", "--passed"),
        frozenset({ADMIN, QA}),
        "manage_devices",
        prepare=a_device,
    ),
    Row(
        ("deviation", "close", "{deviation}", "--root-cause", "r", "--action", "a"),
        frozenset({QA, SURGEON}),
        "close_deviation",
        prepare=a_deviation,
    ),
]

# Who runs the command: each role with the right PIN, then two ways of not signing in.
NO_OPERATOR, NO_PIN = "(no operator)", "(operator, no PIN)"
RUNNERS = [*roles.ROLES, NO_OPERATOR, NO_PIN]


def command_of(row: Row) -> str:
    """The command a row runs, e.g. `case assess`."""
    words = list(takewhile(lambda a: not a.startswith(("-", "{")), row.args))
    return " ".join(words[:2])


FLAG_IDS = {"--override-reason": "override", "--full": "full", "--reveal": "reveal"}


def row_id(row: Row) -> str:
    extra = [a.strip("{}").upper() for a in row.args[2:3] if a.startswith("{")]
    flags = [name for flag, name in FLAG_IDS.items() if flag in row.args]
    return "-".join([*command_of(row).split(), *extra, *flags])


def table_rows(clinic: Clinic) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (but alembic's), to prove a refused command wrote nothing."""
    names = sorted(set(inspect(clinic.engine).get_table_names()) - {"alembic_version"})
    assert {"registry", "operators", "operator_events", "entries"} <= set(names)
    with clinic.engine.connect() as conn:
        return {
            name: sorted(map(tuple, conn.execute(text(f"SELECT * FROM {name}"))), key=repr)
            for name in names
        }


def record(rows: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[tuple[Any, ...]]]:
    """The tables but the access log and the reading sessions, which a read may add to (one
    entry: who read what; the session's last use)."""
    return {name: found for name, found in rows.items() if name not in ("access_log", "sessions")}


def prepare(clinic: Clinic, row: Row, tmp: Path) -> dict[str, str]:
    values = {"tmp": str(tmp)}
    if row.case_in is not None:
        start = utcnow() - row.harvest_ago if row.harvest_ago else None
        case_id = clinic.open(at=start - timedelta(minutes=30) if start else None)
        advance_to(clinic, case_id, row.case_in, start=start)
        values.update(case=str(case_id))
    if row.prepare is not None:
        values.update(row.prepare(clinic, tmp))
    return values


def invoke(clinic: Clinic, row: Row, runner: str, values: dict[str, str]) -> Result:
    from bmac_workflow.cli import cli

    env: dict[str, str | None] = {
        "BMAC_DATABASE_URL": clinic.url,
        "BMAC_OPERATOR": None,
        "BMAC_PIN": None,
        "BMAC_VERIFIER_PIN": PINS["nurse2"],
        "BMAC_NEW_PIN": None,
        **row.env,
    }
    if runner in roles.ROLES:
        env.update(BMAC_OPERATOR=runner, BMAC_PIN=PINS[runner])
    elif runner == NO_PIN:
        env.update(BMAC_OPERATOR=NURSE)
    args = [a.format(**values) for a in row.args]
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


def expected_code(row: Row, runner: str) -> int:
    if row.roles is None:
        return 0
    if runner in roles.ROLES:
        return 0 if runner in row.roles else 6
    return 6 if row.writes else 0


@pytest.mark.parametrize("row", [pytest.param(r, id=row_id(r)) for r in ROWS])
def test_each_role_gets_the_exit_code_of_the_role_matrix_and_a_refusal_writes_nothing(
    clinic: Clinic, row: Row, tmp_path: Path
) -> None:
    if row.writes_file and clinic.engine.dialect.name != "sqlite":
        pytest.skip("bmac db backup copies SQLite databases (PostgreSQL: pg_dump)")
    wrong: list[str] = []
    for runner in RUNNERS:
        tmp = tmp_path / runner.strip("()").replace(" ", "-").replace(",", "")
        tmp.mkdir()
        values = prepare(clinic, row, tmp)
        before = table_rows(clinic)
        result = invoke(clinic, row, runner, values)
        want = expected_code(row, runner)
        after = table_rows(clinic)
        if result.exit_code != want:
            wrong.append(f"{runner}: exit {result.exit_code}, want {want}: {result.stderr}")
        elif want == 6:
            if after != before:
                wrong.append(f"{runner}: refused, but the database changed")
            lines = result.stderr.strip().splitlines()
            if len(lines) != 1 or not lines[0].startswith("error: "):
                wrong.append(f"{runner}: refused without one error line: {result.stderr!r}")
        elif row.writes_file:
            if not list(tmp.iterdir()):
                wrong.append(f"{runner}: succeeded but wrote no file")
        elif row.writes and after == before:
            wrong.append(f"{runner}: succeeded but wrote nothing")
        elif row.writes and len(after["registry"]) - len(before["registry"]) != row.acts:
            added = len(after["registry"]) - len(before["registry"])
            wrong.append(f"{runner}: added {added} acts to the registry, want {row.acts}")
        elif not row.writes and row.roles is not None and record(after) != record(before):
            wrong.append(f"{runner}: a reading command changed the database")
        elif not row.writes and len(after["access_log"]) - len(before["access_log"]) > 1:
            wrong.append(f"{runner}: a reading command logged more than one read")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("row", [pytest.param(r, id=row_id(r)) for r in ROWS if r.writes])
def test_the_roles_of_each_writing_command_are_its_row_in_the_code_matrix(row: Row) -> None:
    assert row.permission is not None and row.roles is not None
    assert roles.permissions()[row.permission] == row.roles


def test_an_auditor_can_run_every_reading_command_and_no_writing_one() -> None:
    # The table above says it row by row; this states the rule of the issue in one place.
    for row in ROWS:
        if row.roles is None:
            continue
        if (
            row.permission == "audit_checkpoint"
        ):  # the one thing an auditor writes (docs/operators.md)
            assert row.roles == {AUDITOR}
            continue
        assert (AUDITOR in row.roles) == (not row.writes), row.args


def test_every_command_of_the_cli_has_a_row() -> None:
    import click

    from bmac_workflow.cli import cli

    ctx = click.Context(cli)
    commands: set[str] = set()
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        if isinstance(command, click.Group):
            commands |= {f"{name} {sub}" for sub in command.list_commands(ctx)}
        else:
            commands.add(name)
    covered = {command_of(row) for row in ROWS}
    missing = {c for c in commands if not any(r == c or r.startswith(c + " ") for r in covered)}
    # Any operator signs in with their own PIN, none without (tests/e2e/test_sessions_cli.py);
    # `serve` runs a server (tests/e2e/test_web.py, test_browser.py).
    missing -= {"login", "serve"}
    assert not missing, f"commands without a row: {sorted(missing)}"
