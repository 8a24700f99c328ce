"""What the acts of the signed logs besides the case entries share (the operator registry, the
quality log, a case's refusals): each is a frozen dataclass with a `signer` and its
`signatures`, stored as canonical JSON and signed under a prefix of its own. Pure."""

from __future__ import annotations

import json
from typing import Any, ClassVar, Self

from .record import Signature, canonical, restore, signed_content


class SignedAct:
    """The JSON form of a signed act; a subclass names the prefix its signatures sign under
    (`_prefix`), and whether an act of it may have no signer (`_unsigned`: the registry's acts
    written by a migration, before anyone had a key)."""

    _prefix: ClassVar[bytes]
    _unsigned: ClassVar[bool] = False

    def plain(self) -> dict[str, Any]:
        """The act as the JSON that is hashed: its signer as plain data, and its signatures
        only once it has them."""
        found = dict(self.__dict__)
        signer = found["signer"]
        found["signer"] = None if signer is None else signer.plain()
        if found["signatures"] is None:
            del found["signatures"]
        return found

    def body(self) -> str:
        """Canonical JSON text, signatures included: what is hashed and stored."""
        return canonical(self.plain())

    def content(self) -> bytes:
        """What the signature signs: the prefix and the canonical JSON without it."""
        return signed_content(self._prefix, self.plain())

    @classmethod
    def from_body(cls, body: str) -> Self:
        """Read an act back from its stored text."""
        raw = json.loads(body)
        if not cls._unsigned or raw.get("signer") is not None:
            raw["signer"] = restore(Signature, raw["signer"])
        return restore(cls, raw)
