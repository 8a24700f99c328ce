"""`bmac` at two workstations: a step logged elsewhere while the operator types the PIN."""

from __future__ import annotations

from typing import Any

import pytest

from bmac_workflow.services.signing import Credentials
from bmac_workflow.timeutil import local
from tests.conftest import Bmac, Clinic, advance_to
from tests.walk import step_args, step_values


def test_a_step_logged_while_the_operator_types_the_pin_is_refused_with_exit_7(
    clinic: Clinic, bmac: Bmac, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bmac_workflow.cli.app import App

    case_id = clinic.open()
    advance_to(clinic, case_id, "filtering")
    credentials = App.credentials

    def slow_typist(app: App, *args: Any, **kwargs: Any) -> Credentials:
        typed = credentials(app, *args, **kwargs)

        def pin() -> str | None:
            # While nurse types her PIN, nurse2 logs the same step at the other workstation.
            clinic.fire(case_id, "filter", step_values("filter", case_id), who="nurse2")
            return typed.pin()

        return Credentials(typed.operator_id, pin)

    monkeypatch.setattr(App, "credentials", slow_typist)
    entries = clinic.count("entries")

    result = bmac(*step_args("filter", case_id, filter_lot="F-2"), who="nurse")

    with clinic.uow(write=False) as uow:
        winner = uow.repo.entries(case_id)[-1][0]
    assert result.exit_code == 7
    assert result.stderr == (
        f"error: case {case_id} changed under you: nurse2 logged filter at "
        f"{local(winner.recorded_at)}; check `bmac case status {case_id}`\n"
    )
    assert clinic.count("entries") == entries + 1
    assert winner.signer.id == "nurse2"
    assert winner.data["filter_lot"] == step_values("filter", case_id)["filter_lot"] != "F-2"
