"""The second person of a step that needs one (the injection's verifier): signed in with their
own PIN once every other guard holds."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import NotPermitted
from ..facts import Attempt
from ..guards import Request
from ..states import workflow
from .recording import Clock
from .signing import Credentials, SignedIn, sign_in

if TYPE_CHECKING:
    from ..steps import Step
    from ..store.database import Database


def second_person(
    step: Step,
    attempt: Attempt,
    request: Request,
    credentials: Credentials | None,
    signer: SignedIn,
    clock: Clock,
    db: Database,
) -> SignedIn:
    """The second person, signed in with their own PIN once every other guard holds.

    The verifier must be the operator the step's data names. The signer named as their own
    verifier is not asked again: the second-person guard refuses it, in the machine's order.
    """
    named = attempt.data[step.verifier_field or ""]
    if credentials is None or credentials.operator_id == signer.operator.id == named:
        return signer
    if credentials.operator_id != named:
        raise NotPermitted(
            f"the verifier who signs ({credentials.operator_id}) is not the one the step names "
            f"({named}): the second person enters their own PIN"
        )
    # Every guard but the second person's, before that person is asked for a PIN.
    workflow().advance(
        attempt.case.state, step.trigger, request._replace(verifier_is_second_person=True)
    )
    try:
        return sign_in(credentials, clock(), db)
    except NotPermitted as exc:
        raise NotPermitted(f"the verifier cannot sign: {exc.message}") from None
