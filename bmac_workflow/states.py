"""The workflow of one case: the states and the one `transitions` Machine, built from the step
declarations (steps.py).

Pure: the standard library and `transitions` (imported on the machine's first firing, so that
reading commands start without it). The services compute the facts a guard needs (facts.py),
fire the trigger here, and write the result themselves: nothing here touches the database,
because transitions cannot roll back a failed callback.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .errors import BmacError, NotAllowed

if TYPE_CHECKING:
    from transitions import Machine

    from .guards import Request
    from .steps import Step

# The states the rules name; the states between the harvest and the injection are named by
# their steps (steps.py).
IMAGING_ASSESSMENT = "imaging_assessment"
MARROW_COLLECTION = "marrow_collection"
INJECTION = "injection"
FOLLOW_UP = "follow_up"
CLOSED = "closed"
INELIGIBLE = "ineligible"
CANCELLED = "cancelled"

INITIAL = IMAGING_ASSESSMENT
TERMINAL = (CLOSED, INELIGIBLE, CANCELLED)
# The stage each end is shown as (the others take theirs from the step that leaves them).
END_STAGES = {CLOSED: "finished", INELIGIBLE: "stopped", CANCELLED: "stopped"}


class Workflow:
    """The states, the transitions table, the machine and every view of them, from a list of
    step declarations."""

    def __init__(self, steps: Sequence[Step]) -> None:
        self.steps = tuple(steps)
        self.by_trigger = {step.trigger: step for step in self.steps}
        if len(self.by_trigger) != len(self.steps):
            raise ValueError("two steps declare the same trigger")
        self.states = self._states()
        self.triggers = tuple(self.by_trigger)
        self._from = {
            state: tuple(s.trigger for s in self.steps if state in self.sources(s))
            for state in self.states
        }
        self.stages = {
            **{s: step.stage for step in self.steps for s in self.sources(step)},
            **END_STAGES,
        }

    def _states(self) -> tuple[str, ...]:
        """Every state: those a step leaves or enters in declaration order, then the ends."""
        seen: list[str] = []
        for step in self.steps:
            for state in (step.source, step.dest, step.otherwise):
                if isinstance(state, str) and state not in TERMINAL and state not in seen:
                    seen.append(state)
        if seen[0] != INITIAL or FOLLOW_UP not in seen:
            raise ValueError(f"the steps must start at {INITIAL} and reach {FOLLOW_UP}")
        return (*seen, *TERMINAL)

    def sources(self, step: Step) -> tuple[str, ...]:
        """The states `step` leaves from."""
        from .steps import Before

        if isinstance(step.source, Before):
            return self.states[: self.states.index(step.source.state)]
        return (step.source,)

    def rows(self) -> list[dict[str, Any]]:
        """The transitions table as `transitions` takes it. Where a trigger has two rows the
        first whose conditions hold wins (assess: a candidate, else ineligible)."""
        from .guards import role_guard

        table: list[dict[str, Any]] = []
        for step in self.steps:
            role = role_guard(step.trigger, step.roles)
            sources = list(self.sources(step))
            source = sources[0] if len(sources) == 1 else sources
            base = {"trigger": step.trigger, "source": source}
            table.append({**base, "dest": step.dest, "conditions": [role, *step.guards]})
            if step.otherwise:
                table.append(
                    {**base, "dest": step.otherwise, "conditions": [role], "unless": [*step.guards]}
                )
        return table

    @cached_property
    def machine(self) -> Machine:
        """The one Machine of this workflow, built on first use."""
        import logging

        from transitions import Machine

        # Its debug lines (eight per firing) are never shown, but each still costs a call.
        logging.getLogger("transitions.core").disabled = True
        return Machine(
            model=None,
            states=list(self.states),
            transitions=self.rows(),
            initial=INITIAL,
            auto_transitions=False,
            send_event=True,
        )

    def triggers_from(self, state: str) -> tuple[str, ...]:
        """The triggers the table declares from `state`, in declaration order."""
        return self._from.get(state, ())

    def next_step(self, state: str) -> str | None:
        """The forward trigger a person would take next from `state` (never a cancellation)."""
        forward = [t for t in self.triggers_from(state) if not self.cancels(t)]
        return forward[0] if forward else None

    def cancels(self, trigger: str) -> bool:
        """True for the trigger that stops a case from many states (cancel)."""
        from .steps import Before

        return isinstance(self.by_trigger[trigger].source, Before)

    def command(self, trigger: str) -> str:
        """What a person types for `trigger` (`bmac step collection`)."""
        return f"bmac {self.by_trigger[trigger].command}"

    def check_allowed(self, state: str, trigger: str) -> None:
        """Refuse (exit 4) a trigger that the table does not declare from `state`."""
        if trigger in self.triggers_from(state):
            return
        allowed = [self.command(t) for t in self.triggers_from(state)]
        way = f"allowed next: {', '.join(allowed)}" if allowed else "the case is finished"
        shown = self.command(trigger) if trigger in self.by_trigger else trigger
        raise NotAllowed(f"{shown} is not allowed in state {state}; {way}")

    def advance(self, state: str, trigger: str, request: Request) -> str:
        """Fire `trigger` from `state` on the machine: the new state, or the refusing guard's
        error. The caller checked the role and the state first (the README's order of checks)."""
        token = _Token()
        token.state = state
        # Fired on the machine's event without attaching the token: add_model binds a method
        # per state and trigger on it, most of a firing's cost, and the guards need none of
        # them. `Event.trigger(model, ...)` is what `model.<trigger>()` calls; transitions is
        # pinned to a range where tests/unit/test_states.py checks it still behaves so.
        if self.machine.events[trigger].trigger(token, request=request):
            return token.state
        raise self.refusal(state, trigger, request)

    def decide(self, state: str, trigger: str, request: Request) -> str | BmacError:
        """Where `trigger` leads from `state`, or the error refusing it, decided on the step's
        own guards without the machine: what the audit re-runs on every entry of the record
        (the machine costs ten times more; tests/unit/test_states.py checks both agree)."""
        step = self.by_trigger.get(trigger)
        if step is None or trigger not in self.triggers_from(state):
            return NotAllowed(f"{trigger} is not allowed in state {state}")
        if request.role not in step.roles:
            return self.refusal(state, trigger, request)
        for guard in step.guards:
            if not guard.holds(request):
                return step.otherwise or self.refusal(state, trigger, request)
        return step.dest

    def refusal(self, state: str, trigger: str, request: Request) -> BmacError:
        """The error of the first guard that refuses `trigger` (a step with an `otherwise`
        goes there when its guards do not hold: only its role can refuse it)."""
        from .guards import role_guard

        step = self.by_trigger[trigger]
        for guard in (role_guard(trigger, step.roles), *(() if step.otherwise else step.guards)):
            if not guard.holds(request):
                return guard.refusal(request)
        return NotAllowed(f"{trigger} is not allowed in state {state}")

    @cached_property
    def window_states(self) -> frozenset[str]:
        """The states in which the harvest-to-injection window runs."""
        return frozenset(
            s for step in self.steps if step.window_running for s in self.sources(step)
        )

    @cached_property
    def walk(self) -> tuple[Step, ...]:
        """The steps of a happy case from the assessment to the injection, in order."""
        path, state = [], INITIAL
        while state != FOLLOW_UP:
            step = self.by_trigger[self.next_step(state) or ""]
            path.append(step)
            state = step.dest
        return tuple(path)

    @cached_property
    def default_ranges(self) -> dict[str, tuple[float, float]]:
        """The protocol's default range of every measured value the steps record (each step
        declares its own with its data model): what a protocol's `[ranges]` may narrow."""
        from .step_data import range_of

        ranges: dict[str, tuple[float, float]] = {}
        for step in self.steps:
            model = step.model
            for name in model.model_fields if model is not None else ():
                found = range_of(model, name)  # type: ignore[arg-type]
                if found is not None:
                    ranges[name] = (float(found.low), float(found.high))
        return ranges

    @cached_property
    def permissions(self) -> dict[str, frozenset[str]]:
        """Action -> the roles allowed to do it (roles.py orders the matrix)."""
        from .roles import AFTER_STEPS, OPEN, VERIFY_INJECTION

        around = (OPEN, VERIFY_INJECTION, *AFTER_STEPS)
        return {
            **{action.name: action.roles for action in around},
            **{step.trigger: step.roles for step in self.steps},
        }


class _Token:
    """The model the machine drives for one firing: it only carries a state."""

    state: str


_declared: Workflow | None = None


def workflow() -> Workflow:
    """The workflow of the declarations in force (steps.STEPS unless a test declared others)."""
    global _declared
    if _declared is None:
        from .steps import STEPS

        _declared = Workflow(STEPS)
    return _declared


@contextmanager
def declared(steps: Sequence[Step]) -> Iterator[Workflow]:
    """Put another list of declarations in force for the block (a test adding a step)."""
    global _declared
    before, _declared = _declared, Workflow(steps)
    try:
        yield _declared
    finally:
        _declared = before
