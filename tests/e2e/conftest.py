"""Fixtures of the end-to-end tests that count what a command costs: the argon2 runs of its
sign-ins (keys.py), counted by wrapping the one argon2 call of the keys (`keys._kdf`: unsealing a
key at sign-in, sealing one under a new PIN) and the check of a PIN hash from before keys
(`operators.pin_matches`)."""

from __future__ import annotations

from typing import Any

import pytest

from bmac_workflow import keys, operators


class Counts(dict[str, int]):
    """Counts by name, which a test zeroes (`reset`) once its setup is done."""

    def reset(self) -> None:
        """Every count back to 0."""
        self.update(dict.fromkeys(self, 0))


@pytest.fixture
def argon2(monkeypatch: pytest.MonkeyPatch) -> Counts:
    """How many argon2 runs checked a PIN ("checks": a key unsealed, or a PIN hash from before
    keys verified) and how many sealed a key under a PIN ("seals")."""
    counts = Counts(checks=0, seals=0)
    kdf, seal, matches = keys._kdf, keys.seal, operators.pin_matches
    sealing = [False]

    def counting_kdf(*args: Any, **kwargs: Any) -> bytes:
        counts["seals" if sealing[0] else "checks"] += 1
        return kdf(*args, **kwargs)

    def counting_seal(*args: Any, **kwargs: Any) -> str:
        sealing[0] = True
        try:
            return seal(*args, **kwargs)
        finally:
            sealing[0] = False

    def counting_matches(pin_hash: str, pin: str) -> bool:
        counts["checks"] += 1
        return matches(pin_hash, pin)

    monkeypatch.setattr(keys, "_kdf", counting_kdf)
    monkeypatch.setattr(keys, "seal", counting_seal)
    monkeypatch.setattr(operators, "pin_matches", counting_matches)
    monkeypatch.setattr("bmac_workflow.services.signing.pin_matches", counting_matches)
    return counts
