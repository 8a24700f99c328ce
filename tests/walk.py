"""The test clinic's people, and a happy case's walk, from the step declarations.

`happy_steps` gives each step of a happy case (assessment to injection) with who signs it and
the values they type, as the service takes them; `step_args` gives the same as the command
line of `bmac`. Both read the declarations in force (steps.py, or a test's own), so that a
step added to the workflow is walked by every test without editing one.
"""

from __future__ import annotations

from typing import Any

from bmac_workflow.roles import NURSE
from bmac_workflow.states import workflow
from bmac_workflow.step_data import option_meta
from bmac_workflow.steps import Step, example_values

# The test clinic: each operator's PIN and role (the ids double as the roles' names).
PINS = {
    "admin": "481516",
    "nurse": "135792",
    "nurse2": "246801",
    "surgeon": "864202",
    "auditor": "975319",
    "qa": "739184",
}
ROLE_OF = {
    "admin": "admin",
    "nurse": "nurse",
    "nurse2": "nurse",
    "surgeon": "surgeon",
    "auditor": "auditor",
    "qa": "qa",
}
VERIFIER = "nurse2"


def pin_of(who: str) -> str:
    """The PIN of a test operator (an unknown one gets a PIN nobody has)."""
    return PINS.get(who, "605148")


def signer_of(step: Step) -> str:
    """Who signs a step in the tests: the nurse where a nurse may, else the surgeon."""
    return "nurse" if NURSE in step.roles else "surgeon"


def specimen(case_id: int) -> str:
    """The specimen label of a test case."""
    return f"SP-{case_id}"


def values_of(step: Step, case_id: int) -> dict[str, Any]:
    """The values a happy case types for `step`, as the service takes them."""
    values = example_values(step, specimen(case_id))
    for name in values:
        if step.model is not None and option_meta(step.model, name).verifier:
            values[name] = VERIFIER
    return values


def happy_steps(case_id: int) -> list[tuple[str, str, dict[str, Any]]]:
    """(trigger, who, values) of each step of a happy case, assessment to injection."""
    return [(s.trigger, signer_of(s), values_of(s, case_id)) for s in workflow().walk]


def step_values(trigger: str, case_id: int) -> dict[str, Any]:
    """The happy values of one step."""
    return values_of(workflow().by_trigger[trigger], case_id)


def step_args(trigger: str, case_id: int, **changes: Any) -> list[str]:
    """`bmac` arguments that log `trigger` on a case with its happy values (and `changes`,
    by field name; None leaves a field out)."""
    step = workflow().by_trigger[trigger]
    values = {**values_of(step, case_id), **changes}
    words = [*step.command.split(), str(case_id)]
    for name, value in values.items():
        if value is None:
            continue
        meta = option_meta(step.model, name)  # type: ignore[arg-type]
        flag = meta.flag or "--" + name.replace("_", "-")
        if isinstance(value, bool):
            if value:
                words.append(flag)
            elif meta.negative:
                words.append(f"--no-{flag.removeprefix('--')}")
        elif isinstance(value, list) and meta.split:
            words += [flag, meta.split.join(str(v) for v in value)]
        elif isinstance(value, list):
            for item in value:
                words += [flag, str(item)]
        else:
            words += [flag, str(value)]
    return words


def use_cheap_pin_hashing() -> None:
    """argon2id at its lowest costs for the keys sealed in this process, so that hundreds of
    sign-ins stay quick (the test session's fixture, and the worker processes a test spawns,
    call this; a key keeps the costs it was sealed with, and the tests of the real costs run
    `bmac` in a subprocess of its own)."""
    from nacl.pwhash import argon2id

    from bmac_workflow import keys

    keys.COST = keys.KdfCost(argon2id.OPSLIMIT_MIN, argon2id.MEMLIMIT_MIN)
