"""Operator keys: an Ed25519 signing key per operator, stored only sealed under their PIN.

The PIN goes through argon2id (libsodium's, via PyNaCl) into a 32-byte key that seals the
signing key with XSalsa20-Poly1305 (`SecretBox`, authenticated encryption). One argon2 run both
checks the PIN and unseals the key: a wrong PIN fails the box's authentication, and nothing else
about the PIN is stored. The argon2 costs are kept with each sealed key, so that they can be
raised later without locking anyone out.

PyNaCl was measured against `cryptography` here (benchmarks/README.md): twice as fast to verify.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

from .errors import NotPermitted

# argon2id costs: 3 passes over 64 MiB (RFC 9106's second recommended option); about 0.16 s a
# guess on one core here, so that a 6-digit PIN takes days to search offline (docs/operators.md).
OPSLIMIT = 3
MEMLIMIT = 64 * 1024 * 1024
SEALED_FORMAT = "bmac-sealed-key/1"


@dataclass(frozen=True)
class KdfCost:
    """The argon2id costs one PIN is stretched with."""

    opslimit: int = OPSLIMIT
    memlimit: int = MEMLIMIT


# The cost new keys are sealed with (tests lower it: one argon2 run per sign-in adds up).
COST = KdfCost()


def b64(raw: bytes) -> str:
    """Bytes as standard base64 text."""
    return base64.b64encode(raw).decode("ascii")


def unb64(text: str) -> bytes:
    """Base64 text as bytes (ValueError when it is not base64)."""
    return base64.b64decode(text.encode("ascii"), validate=True)


@functools.lru_cache(maxsize=256)
def fingerprint(public_key: str) -> str:
    """A short, printable name of a public key: the first 16 bytes of its SHA-256, in hex
    groups (what the root key's holder reads out and writes down)."""
    digest = hashlib.sha256(unb64(public_key)).hexdigest()[:32]
    return ":".join(digest[i : i + 4] for i in range(0, 32, 4))


def _kdf(pin: str, salt: bytes, cost: KdfCost) -> bytes:
    from nacl.pwhash import argon2id

    return bytes(
        argon2id.kdf(32, pin.encode("utf-8"), salt, opslimit=cost.opslimit, memlimit=cost.memlimit)
    )


def new_key() -> tuple[bytes, str]:
    """A new signing key: its 32-byte seed and its public key (base64)."""
    from nacl.signing import SigningKey

    key = SigningKey.generate()
    return bytes(key), b64(bytes(key.verify_key))


def seal(seed: bytes, pin: str, cost: KdfCost | None = None) -> str:
    """The signing key's seed sealed under `pin`, as JSON text (format, salt, costs, box)."""
    from nacl.pwhash import argon2id
    from nacl.secret import SecretBox

    cost = cost or COST
    salt = os.urandom(argon2id.SALTBYTES)
    box = SecretBox(_kdf(pin, salt, cost)).encrypt(seed)
    return json.dumps(
        {
            "format": SEALED_FORMAT,
            "salt": b64(salt),
            "opslimit": cost.opslimit,
            "memlimit": cost.memlimit,
            "box": b64(bytes(box)),
        },
        sort_keys=True,
    )


def unseal(sealed: str, pin: str) -> bytes | None:
    """The seed sealed in `sealed`, or None when `pin` is not the one it was sealed under.

    One argon2 run. A sealed key that cannot be read at all is refused (exit 6), never taken
    for a wrong PIN: counting it would lock an operator out over a damaged row.
    """
    from nacl.exceptions import CryptoError
    from nacl.secret import SecretBox

    try:
        fields: dict[str, Any] = json.loads(sealed)
        if fields.get("format") != SEALED_FORMAT:
            raise ValueError("unknown format")
        salt, box = unb64(fields["salt"]), unb64(fields["box"])
        cost = KdfCost(int(fields["opslimit"]), int(fields["memlimit"]))
    except (ValueError, KeyError, TypeError):
        raise NotPermitted(
            "this operator's sealed key cannot be read: ask an admin to `bmac operator "
            "reset-pin` it"
        ) from None
    try:
        return bytes(SecretBox(_kdf(pin, salt, cost)).decrypt(box))
    except CryptoError:
        return None


def public_key_of(seed: bytes) -> str:
    """The public key (base64) of a signing key's seed."""
    from nacl.signing import SigningKey

    return b64(bytes(SigningKey(seed).verify_key))


def sign(seed: bytes, message: bytes) -> str:
    """The Ed25519 signature (base64) of `message` by the key of `seed`."""
    return sign_with(signing_key(seed), message)


def signing_key(seed: bytes) -> bytes:
    """The secret key of `seed` as libsodium signs with it (the seed and its public key):
    making it derives the public key (a point multiplication), which a command signing more
    than once does once."""
    from nacl.bindings import crypto_sign_seed_keypair

    return bytes(crypto_sign_seed_keypair(seed)[1])


def sign_with(key: bytes, message: bytes) -> str:
    """The Ed25519 signature (base64) of `message` by `key` (`signing_key`)."""
    # libsodium's combined form is the signature then the message: its first 64 bytes.
    return b64(_signing()(message, key)[:64])


@functools.cache
def _signing() -> Any:
    from nacl.bindings import crypto_sign

    return crypto_sign


def verifies(public_key: str, message: bytes, signature: str) -> bool:
    """True when `signature` is `message` signed by the key `public_key` (both base64)."""
    open_signed, refused = _signature_check()
    try:
        # Not validated as base64 first: bytes that are not a signature do not verify.
        open_signed(binascii.a2b_base64(signature) + message, _public_bytes(public_key))
    except refused:
        return False
    return True


@functools.cache
def _signature_check() -> tuple[Any, tuple[type[Exception], ...]]:
    """libsodium's check and what it raises, imported once (not at `bmac --help`): the audit
    calls `verifies` for every signature of the record."""
    from nacl.bindings import crypto_sign_open
    from nacl.exceptions import BadSignatureError, CryptoError

    return crypto_sign_open, (BadSignatureError, CryptoError, ValueError, TypeError)


@functools.lru_cache(maxsize=1024)
def _public_bytes(public_key: str) -> bytes:
    # A clinic has a few dozen keys and the audit checks tens of thousands of signatures.
    return unb64(public_key)
