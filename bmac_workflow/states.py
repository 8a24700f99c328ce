"""The workflow of one case: states, triggers, guards and the one `transitions` Machine.

Pure: imports only the standard library and `transitions`. The services compute the facts a
guard needs (a `Request`), fire the trigger here, and write the result themselves; nothing in
this module touches the database, because transitions cannot roll back a failed callback.

The Machine is built from the table on its first firing (`machine()`), with `transitions`
imported then: the reading commands (`case status`, `case list`) only ask which triggers the
table declares from a state, and start without either (benchmarks/run.py, start_case_status).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING

from .errors import BmacError, InvalidData, NotAllowed, NotPermitted

if TYPE_CHECKING:
    from transitions import EventData, Machine

IMAGING_ASSESSMENT = "imaging_assessment"
MARROW_COLLECTION = "marrow_collection"
FILTERING = "filtering"
CENTRIFUGATION = "centrifugation"
PLASMA_REMOVAL = "plasma_removal"
CONCENTRATION = "concentration"
INJECTION = "injection"
FOLLOW_UP = "follow_up"
CLOSED = "closed"
INELIGIBLE = "ineligible"
CANCELLED = "cancelled"

STATES = [
    IMAGING_ASSESSMENT,
    MARROW_COLLECTION,
    FILTERING,
    CENTRIFUGATION,
    PLASMA_REMOVAL,
    CONCENTRATION,
    INJECTION,
    FOLLOW_UP,
    CLOSED,
    INELIGIBLE,
    CANCELLED,
]
INITIAL = IMAGING_ASSESSMENT
TERMINAL = frozenset({CLOSED, INELIGIBLE, CANCELLED})
BEFORE_FOLLOW_UP = STATES[: STATES.index(FOLLOW_UP)]

NURSE, SURGEON, AUDITOR, ADMIN = "nurse", "surgeon", "auditor", "admin"
ROLES = (NURSE, SURGEON, AUDITOR, ADMIN)

# Who may do what (SPEC §5): the one role matrix. The machine's transitions take their role
# guards from it, the services check the actions around the machine with `check_permitted`, and
# `bmac operator roles` prints it, so what is printed is what is enforced.
PERMISSIONS: dict[str, frozenset[str]] = {
    "open": frozenset({NURSE, SURGEON}),
    "assess": frozenset({SURGEON}),
    "collect": frozenset({NURSE, SURGEON}),
    "filter": frozenset({NURSE, SURGEON}),
    "centrifuge": frozenset({NURSE, SURGEON}),
    "remove_plasma": frozenset({NURSE, SURGEON}),
    "concentrate": frozenset({NURSE, SURGEON}),
    "inject": frozenset({SURGEON}),
    # The second person at the injection checks the specimen at the bedside: clinical staff.
    "verify_injection": frozenset({NURSE, SURGEON}),
    "record_follow_up": frozenset({NURSE, SURGEON}),
    "cancel": frozenset({SURGEON}),
    "close": frozenset({SURGEON}),
    # A nurse only corrects entries she signed; a surgeon corrects any (the correction's guard).
    "correct": frozenset({NURSE, SURGEON}),
    "read": frozenset(ROLES),
    # SPEC §5: the auditor writes nothing but checkpoints; the admin is not listed for them.
    "audit_checkpoint": frozenset({AUDITOR}),
    "manage_operators": frozenset({ADMIN}),
    "backup": frozenset({ADMIN}),
}

# The commands each action of the matrix covers, as `bmac operator roles` prints them.
PERMISSION_COMMANDS: dict[str, str] = {
    "open": "case open",
    "assess": "case assess (and --override-reason)",
    "collect": "step collection",
    "filter": "step filtering",
    "centrifuge": "step centrifugation",
    "remove_plasma": "step plasma-removal",
    "concentrate": "step concentration",
    "inject": "step injection (and --override-reason)",
    "verify_injection": "step injection --verifier ID",
    "record_follow_up": "followup record",
    "cancel": "case cancel",
    "close": "case close",
    "correct": "case correct (a nurse: only entries they signed)",
    "read": "case status|list|timeline, followup due, operator list|roles, "
    "audit verify|replay|export, report outcomes, db current",
    "audit_checkpoint": "audit checkpoint",
    "manage_operators": "operator add|deactivate|reset-pin",
    "backup": "db backup",
}

# Commands that need no operator at all (SPEC §5); reading commands need no PIN.
NO_OPERATOR_COMMANDS = ("db upgrade", "db grant", "demo", "diagram", "completion")

# What a signature can mean (21 CFR Part 11 §11.50(a)(3)).
PERFORMED, VERIFIED, ASSESSED, OVERRIDDEN, CORRECTED, CANCELLED = (
    "performed",
    "verified",
    "assessed",
    "overridden",
    "corrected",
    "cancelled",
)
SIGNATURE_MEANINGS = (PERFORMED, VERIFIED, ASSESSED, OVERRIDDEN, CORRECTED, CANCELLED)

# The meaning of the signature each action carries. An override (of candidacy at assessment, of
# the window at injection) signs as OVERRIDDEN instead, and the injection's verifier as VERIFIED.
MEANINGS = {
    "open": PERFORMED,
    "assess": ASSESSED,
    "collect": PERFORMED,
    "filter": PERFORMED,
    "centrifuge": PERFORMED,
    "remove_plasma": PERFORMED,
    "concentrate": PERFORMED,
    "inject": PERFORMED,
    "record_follow_up": PERFORMED,
    "cancel": CANCELLED,
    "close": PERFORMED,
    "correct": CORRECTED,
}

# The command a person types for each trigger: error messages name the way forward with it.
COMMANDS = {
    "assess": "bmac case assess",
    "collect": "bmac step collection",
    "filter": "bmac step filtering",
    "centrifuge": "bmac step centrifugation",
    "remove_plasma": "bmac step plasma-removal",
    "concentrate": "bmac step concentration",
    "inject": "bmac step injection",
    "record_follow_up": "bmac followup record",
    "close": "bmac case close",
    "cancel": "bmac case cancel",
}


@dataclass(frozen=True)
class Request:
    """What the operator asks for, reduced to the facts the guards decide on."""

    role: str
    candidate: bool = True
    override_reason: str | None = None
    specimen_matches: bool = True
    knee_matches: bool = True
    verifier_is_second_person: bool = True
    minutes_since_harvest: float | None = None
    window_limit_min: float | None = None
    visit_already_recorded: bool = False
    follow_up_complete: bool = False
    close_reason: str | None = None
    extra: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Guard:
    """A named condition of the machine and the error it gives when it refuses."""

    name: str
    holds: Callable[[Request], bool]
    refusal: Callable[[Request], BmacError]

    def __call__(self, event: EventData) -> bool:
        return self.holds(event.kwargs["request"])


def _a(role: str) -> str:
    return f"an {role}" if role[:1] in "aeiou" else f"a {role}"


def role_refusal(action: str, role: str) -> NotPermitted:
    """The error (exit 6) for a role that the matrix does not allow to do `action`."""
    allowed = " or ".join(_a(r) for r in ROLES if r in PERMISSIONS[action])
    return NotPermitted(
        f"{_a(role)} may not {action.replace('_', ' ')}: it needs {allowed} "
        "(`bmac operator roles` shows who may do what)"
    )


def _role_guard(trigger: str) -> Guard:
    """The condition, on every transition of `trigger`, that the signer's role may fire it."""
    allowed = PERMISSIONS[trigger]
    return Guard(
        f"role may {trigger}",
        lambda r: r.role in allowed,
        lambda r: role_refusal(trigger, r.role),
    )


def _window_refusal(r: Request) -> BmacError:
    return NotPermitted(
        f"harvest-to-injection window passed: {r.minutes_since_harvest:.0f} min since the harvest, "
        f"the protocol allows {r.window_limit_min:.0f} min; a surgeon may inject with "
        "--override-reason TEXT"
    )


CANDIDATE_OR_OVERRIDE = Guard(
    "candidate or overridden",
    lambda r: r.candidate or bool(r.override_reason),
    lambda r: NotAllowed("the knee is not a candidate"),
)
SPECIMEN_MATCHES = Guard(
    "specimen identity",
    lambda r: r.specimen_matches,
    lambda r: InvalidData(
        "specimen ID scanned at injection does not match the one collected: "
        "check the syringe label; do not inject"
    ),
)
KNEE_MATCHES = Guard(
    "knee identity",
    lambda r: r.knee_matches,
    lambda r: InvalidData(
        "the knee given at injection is not the case's knee: check the case and the patient"
    ),
)
SECOND_PERSON = Guard(
    "second-person verification",
    lambda r: r.verifier_is_second_person,
    lambda r: NotPermitted(
        "the verifier (--verifier ID) must be a second operator, not the one who injects: an "
        f"active {' or '.join(x for x in ROLES if x in PERMISSIONS['verify_injection'])} "
        "who enters their own PIN"
    ),
)
WITHIN_WINDOW = Guard(
    "harvest-to-injection window",
    lambda r: (
        r.minutes_since_harvest is None
        or r.window_limit_min is None
        or r.minutes_since_harvest <= r.window_limit_min
        or (bool(r.override_reason) and r.role == SURGEON)
    ),
    _window_refusal,
)
VISIT_NOT_RECORDED = Guard(
    "visit recorded once",
    lambda r: not r.visit_already_recorded,
    lambda r: NotAllowed(
        "this follow-up visit is already recorded: correct it with `bmac case correct`, "
        "or record an extra visit with --visit adhoc"
    ),
)
FOLLOW_UP_DONE = Guard(
    "follow-up finished",
    lambda r: r.follow_up_complete or bool(r.close_reason),
    lambda r: NotAllowed(
        "follow-up is not finished (the 24-month visit is not recorded and there was no "
        "arthroplasty): record the visits, or close early with --reason TEXT"
    ),
)

_PROCESSING = [
    ("collect", MARROW_COLLECTION, FILTERING),
    ("filter", FILTERING, CENTRIFUGATION),
    ("centrifuge", CENTRIFUGATION, PLASMA_REMOVAL),
    ("remove_plasma", PLASMA_REMOVAL, CONCENTRATION),
    ("concentrate", CONCENTRATION, INJECTION),
]

# The whole workflow, once. Order matters where a trigger has two rows: the first whose
# conditions hold wins (assess goes to marrow_collection when it can, else to ineligible).
TRANSITIONS: list[dict[str, object]] = [
    {
        "trigger": "assess",
        "source": IMAGING_ASSESSMENT,
        "dest": MARROW_COLLECTION,
        "conditions": [_role_guard("assess"), CANDIDATE_OR_OVERRIDE],
    },
    {
        "trigger": "assess",
        "source": IMAGING_ASSESSMENT,
        "dest": INELIGIBLE,
        "conditions": [_role_guard("assess")],
        "unless": [CANDIDATE_OR_OVERRIDE],
    },
    *[
        dict[str, object](trigger=t, source=s, dest=d, conditions=[_role_guard(t)])
        for t, s, d in _PROCESSING
    ],
    {
        "trigger": "inject",
        "source": INJECTION,
        "dest": FOLLOW_UP,
        "conditions": [
            _role_guard("inject"),
            SPECIMEN_MATCHES,
            KNEE_MATCHES,
            SECOND_PERSON,
            WITHIN_WINDOW,
        ],
    },
    {
        "trigger": "record_follow_up",
        "source": FOLLOW_UP,
        "dest": FOLLOW_UP,
        "conditions": [_role_guard("record_follow_up"), VISIT_NOT_RECORDED],
    },
    {
        "trigger": "close",
        "source": FOLLOW_UP,
        "dest": CLOSED,
        "conditions": [_role_guard("close"), FOLLOW_UP_DONE],
    },
    {
        "trigger": "cancel",
        "source": list(BEFORE_FOLLOW_UP),
        "dest": CANCELLED,
        "conditions": [_role_guard("cancel")],
    },
]

TRIGGERS = list(dict.fromkeys(str(t["trigger"]) for t in TRANSITIONS))


class _Token:
    """The model the machine drives for one firing: it only carries a state."""

    state: str


@cache
def machine() -> Machine:
    """The one Machine of the table above, made on first use."""
    import logging

    from transitions import Machine

    # Its debug lines (eight per firing) are never shown, but each still costs a call: a tenth
    # of a firing (benchmarks/run.py, step commit).
    logging.getLogger("transitions.core").disabled = True
    return Machine(
        model=None,
        states=STATES,
        transitions=TRANSITIONS,
        initial=INITIAL,
        auto_transitions=False,
        send_event=True,
    )


def _sources(row: dict[str, object]) -> list[str]:
    """The states a row of the table leaves from (one name or a list, as transitions takes)."""
    source = row["source"]
    names = source if isinstance(source, list) else [source]
    return [str(name) for name in names]


def triggers_from(state: str) -> list[str]:
    """The triggers the table declares from `state`, in table order."""
    return list(_triggers_from(state))


@cache
def _triggers_from(state: str) -> tuple[str, ...]:
    # Read from the table the machine is built from (a test checks both agree), so that a
    # status needs no machine; once per state: every step asks this twice, and scanning each
    # time was a tenth of a step's cost (benchmarks/run.py).
    declared = {str(row["trigger"]) for row in TRANSITIONS if state in _sources(row)}
    return tuple(t for t in TRIGGERS if t in declared)


def next_step(state: str) -> str | None:
    """The forward trigger a person would take next from `state` (cancel is never 'next')."""
    forward = [t for t in triggers_from(state) if t != "cancel"]
    return forward[0] if forward else None


def check_permitted(action: str, role: str) -> None:
    """Refuse (exit 6) when the role may not perform `action` at all."""
    if role not in PERMISSIONS[action]:
        raise role_refusal(action, role)


def check_allowed(state: str, trigger: str) -> None:
    """Refuse (exit 4) a trigger that the table does not declare from `state`."""
    if trigger in triggers_from(state):
        return
    allowed = [COMMANDS[t] for t in triggers_from(state)]
    way = f"allowed next: {', '.join(allowed)}" if allowed else "the case is finished"
    raise NotAllowed(f"{COMMANDS.get(trigger, trigger)} is not allowed in state {state}; {way}")


def advance(state: str, trigger: str, request: Request) -> str:
    """Fire `trigger` from `state` and return the new state, or raise the refusing guard's error."""
    check_permitted(trigger, request.role)
    check_allowed(state, trigger)
    token = _Token()
    token.state = state
    # Fired on the machine's event without attaching the token: add_model binds a method per
    # state and trigger on it, which cost 85% of this function (benchmarks/run.py), and the
    # guards need none of them. The conditions run exactly as with an attached model.
    if machine().events[trigger].trigger(token, request=request):
        return token.state
    raise _first_refusal(state, trigger, request)


def _first_refusal(state: str, trigger: str, request: Request) -> BmacError:
    for transition in machine().get_transitions(trigger=trigger, source=state):
        for condition in transition.conditions:
            guard = condition.func
            if isinstance(guard, Guard) and guard.holds(request) != condition.target:
                return guard.refusal(request)
    return NotAllowed(f"{trigger} is not allowed in state {state}")
