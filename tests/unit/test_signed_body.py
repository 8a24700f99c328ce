"""The body a step commits is made from the content it signed (the signatures put in where
canonical JSON puts them), not serialised again: it must be `Entry.body()` byte for byte,
whatever the entry holds."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bmac_workflow.entry_signatures import content_of_body
from bmac_workflow.record import Entry, Signature
from bmac_workflow.services.recording import new_entry, signed_body
from bmac_workflow.services.registry import Signer

SCALARS = (
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=30)
    | st.floats(allow_nan=False, allow_infinity=False)
)  # fmt: skip
# Keys and strings a step never writes but an attacker or a correction might: quotes, braces,
# the members the body is cut and joined at.
TEXT = st.sampled_from(["signer", "signatures", ',"signer":{', '"}', "x"]) | st.text(max_size=20)
VALUES = st.recursive(
    SCALARS | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
DATA = st.dictionaries(TEXT, VALUES, max_size=6)


def _signer(who: str, seed: int) -> Signer:
    from bmac_workflow import keys

    secret = bytes([seed]) * 32
    return Signer(Signature(who, who.title(), "nurse", "performed", keys.public_key_of(secret)),
                  secret)  # fmt: skip


@given(
    data=DATA, reason=st.none() | TEXT, verified=st.booleans(), late=st.none() | st.floats(1, 9e3)
)
@settings(max_examples=200, deadline=None)
def test_the_body_made_from_the_content_is_the_entry_s_body(
    data: dict[str, Any], reason: str | None, verified: bool, late: float | None
) -> None:
    signer, verifier = _signer("nurse.kim", 7), _signer("dr.park", 9) if verified else None
    fields = dict(
        case_id=3, seq=5, action="filter", from_state="filtering", to_state="centrifugation",
        at="2026-11-29T10:00:00+00:00", recorded_at="2026-11-29T10:01:00+00:00",
        signer=signer.signature, data=data, prev_hash="ab" * 32, reason=reason,
        verifier=verifier.signature if verifier else None, registry=4, quality=0,
        minutes_late=late, late_reason="the ward was busy" if late else None,
    )  # fmt: skip
    entry = new_entry(**fields)
    assert entry == Entry(**fields)  # the step commit's way of making one is the dataclass's
    signed, body = signed_body(entry, signer, verifier)
    assert body == signed.body()
    assert content_of_body(body) == signed.content()
