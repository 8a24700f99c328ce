"""The test clinic on a fake database (tests/fakes.py): the services' own calls, no SQL.

The clinic's clock only moves when a test moves it: each step is logged `minutes` after the one
before (10 by default), at the clock's time, so the harvest-to-injection window is the test's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bmac_workflow.operators import Operator
from bmac_workflow.protocol import load
from bmac_workflow.services import cases, corrections, operators
from bmac_workflow.services.signing import Credentials
from bmac_workflow.states import workflow
from tests.fakes import FakeDatabase
from tests.walk import PINS, ROLE_OF, happy_steps, pin_of

PROTOCOL = load(None)
START = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


@dataclass
class Clock:
    """The clinic's time, moved by hand."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += timedelta(minutes=minutes)


@dataclass
class PinAsked:
    """A PIN callback that counts how often the PIN was asked for."""

    pin: str
    calls: int = 0

    def __call__(self) -> str:
        self.calls += 1
        return self.pin


@dataclass
class FakeClinic:
    """A fake database with one operator of each role (tests/walk.py's PINs and roles)."""

    db: FakeDatabase = field(default_factory=FakeDatabase)
    clock: Clock = field(default_factory=Clock)

    def __post_init__(self) -> None:
        for who, pin in PINS.items():
            name = "Admin Lee" if who == "admin" else f"{who.title()} Name"
            new_pin = PinAsked(pin)
            admin = self.credentials("admin")
            operators.add_operator(who, name, ROLE_OF[who], new_pin, admin, self.clock, self.db)

    def credentials(
        self, who: str, pin: str | Callable[[], str | None] | None = None
    ) -> Credentials:
        if callable(pin):
            return Credentials(who, pin)
        given = pin if pin is not None else pin_of(who)
        return Credentials(who, lambda: given)

    def open(self, patient: str = "P-0001", knee: str = "left", who: str = "nurse") -> int:
        change = cases.open_case(
            patient, knee, None, self.credentials(who), None, self.clock, self.db
        )
        return change.case.case_id

    def fire(
        self,
        case_id: int,
        trigger: str,
        values: dict[str, Any] | None = None,
        who: str = "nurse",
        *,
        minutes: float = 10,
        verifier: str | Credentials | None = None,
        reason: str | None = None,
        pin: str | Callable[[], str | None] | None = None,
    ) -> cases.Change:
        self.clock.advance(minutes)
        if isinstance(verifier, str):
            verifier = self.credentials(verifier)
        request = cases.StepRequest(case_id, trigger, values or {}, reason=reason)
        signer = self.credentials(who, pin)
        return cases.log_step(request, signer, self.clock, self.db, verifier)

    def walk(self, case_id: int, until: str = "follow_up") -> None:
        """Log the happy steps until the case is in state `until`."""
        order = workflow().states
        for trigger, who, values in happy_steps(case_id):
            if order.index(self.state_of(case_id)) >= order.index(until):
                return
            self.fire(case_id, trigger, values, who, verifier=values.get("verifier_id"))

    def correct(
        self,
        case_id: int,
        seq: int,
        who: str = "nurse",
        reason: str = "typed wrong",
        **settings: Any,
    ) -> corrections.Correction:
        self.clock.advance(1)
        return corrections.correct(
            case_id,
            seq,
            {name: str(value) for name, value in settings.items()},
            reason,
            self.credentials(who),
            None,
            self.clock,
            self.db,
        )

    def state_of(self, case_id: int) -> str:
        with self.db.read() as uow:
            found = uow.repo.get_case(case_id)
        assert found is not None
        return found[0].state

    def operator(self, who: str) -> Operator:
        return self.db.tables.operators[who]

    def events(self, who: str) -> list[str]:
        return [action for op, action, *_ in self.db.tables.operator_events if op == who]
