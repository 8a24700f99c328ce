"""The operator registry: who may sign, with which key and role, and which protocols and site
settings are in force, as one signed, hash-chained log.

Each act is an entry signed by an admin (the first admin's own key signs their addition: the
clinic's root). An operator's role and key at the time of any case entry are read from here
(`Registry.at(operator, seq)`); the `operators` table is a cache that `audit verify` checks
against it. Pure: the services write and read the entries, checks.py verifies them.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field, replace
from operator import itemgetter
from typing import Any

from .record import GENESIS, Signature
from .signed_act import SignedAct

# What a registry entry's signature signs (the prefix keeps it from meaning anything else).
SIGNED_PREFIX = b"bmac-registry/1\n"

# The acts, and what each records in its data.
ADD = "add"  # {name, role, public_key}: a new operator
ROLE = "role"  # {role}
DEACTIVATE = "deactivate"  # {}
REACTIVATE = "reactivate"  # {}
RESET_PIN = "reset_pin"  # {public_key}: a new key, sealed under a PIN the admin gave
PIN_CHANGED = "pin_changed"  # {}: the operator chose their own PIN (signed with their key)
KEY = "key"  # {public_key}: an operator of an older database takes their first key
UNLOCK = "unlock"  # {}
PROTOCOL = "protocol"  # {version, sha256}: a protocol version activated for new cases
SETTING = "setting"  # {value}: a site setting
MIGRATED = "migrated"  # {name, role, active}: an operator as an older database held them
PROTOCOL_MIGRATED = "protocol_migrated"  # {version, sha256}: a protocol an older database used
# {digest, cases, entries}: the heads of every case's entries made before keys (their digest as
# checks.heads_digest), sealed by the first signed act after the migration.
LEGACY_SEAL = "legacy_seal"

# Acts an operator signs about themselves; every other act needs an admin.
SELF_SIGNED = (PIN_CHANGED, KEY)
# Acts written by the migration of an older database, before anyone had a key: unsigned.
UNSIGNED = (MIGRATED, PROTOCOL_MIGRATED, LEGACY_SEAL)


@dataclass(frozen=True)
class RegistryEntry(SignedAct):
    """One act of the registry."""

    seq: int
    action: str
    subject: str  # the operator's id, the protocol's sha256, or the setting's name
    data: dict[str, Any]
    recorded_at: str
    signer: Signature | None
    prev_hash: str
    signatures: dict[str, str] | None = None

    _prefix = SIGNED_PREFIX
    _unsigned = True  # the acts a migration wrote (UNSIGNED)


@dataclass(frozen=True)
class Holder:
    """An operator as the registry knows them at one point of it."""

    id: str
    name: str
    role: str
    active: bool
    key: str | None
    must_change_pin: bool = False


# The seq of a (seq, state) change, for bisect: in C, asked at every entry the audit checks.
_seq = itemgetter(0)


@dataclass
class Registry:
    """The registry's state: every operator's history, the protocols, the settings."""

    length: int = 0
    head: str = GENESIS
    root_key: str | None = None
    # Per operator: the registry seq of each change, and the holder from then on.
    history: dict[str, list[tuple[int, Holder]]] = field(default_factory=dict)
    protocols: dict[str, str] = field(default_factory=dict)  # sha256 -> version
    active_protocol: str | None = None  # the sha256 new cases open under
    settings: dict[str, Any] = field(default_factory=dict)
    legacy_seal: dict[str, Any] | None = None  # set in a database migrated from before keys

    def at(self, operator_id: str, seq: int | None = None) -> Holder | None:
        """The operator as they stood once the registry held `seq` entries (default: now)."""
        changes = self.history.get(operator_id)
        if not changes:
            return None
        upto = self.length if seq is None else seq
        index = bisect_right(changes, upto, key=_seq) - 1
        return changes[index][1] if index >= 0 else None

    def now(self, operator_id: str) -> Holder | None:
        """The operator as they stand."""
        return self.at(operator_id)

    def operators(self) -> list[Holder]:
        """Every operator as they stand, by id."""
        return [changes[-1][1] for _, changes in sorted(self.history.items())]

    def admins_with_keys(self) -> list[Holder]:
        """The active admins who can sign now."""
        return [h for h in self.operators() if h.role == "admin" and h.active and h.key]


def apply(registry: Registry, entry: RegistryEntry, entry_hash: str) -> None:
    """Fold one entry into the registry (its signature and authority are checks.py's)."""
    registry.length, registry.head = entry.seq, entry_hash
    data, subject, action = entry.data, entry.subject, entry.action
    current = registry.now(subject)
    changed: Holder | None = None
    if action in (ADD, MIGRATED):
        changed = Holder(
            subject,
            data["name"],
            data["role"],
            bool(data.get("active", True)),
            data.get("public_key"),
        )
    elif current is not None and action == ROLE:
        changed = replace(current, role=data["role"])
    elif current is not None and action in (DEACTIVATE, REACTIVATE):
        changed = replace(current, active=action == REACTIVATE)
    elif current is not None and action == RESET_PIN:
        changed = replace(current, key=data["public_key"], must_change_pin=True)
    elif current is not None and action == PIN_CHANGED:
        changed = replace(current, must_change_pin=False)
    elif current is not None and action == KEY:
        changed = replace(current, key=data["public_key"])
    elif action in (PROTOCOL, PROTOCOL_MIGRATED):
        registry.protocols[subject] = data["version"]
        if action == PROTOCOL or registry.active_protocol is None:
            registry.active_protocol = subject
    elif action == SETTING:
        registry.settings[subject] = data["value"]
    elif action == LEGACY_SEAL:
        registry.legacy_seal = {**data, "recorded_at": entry.recorded_at}
    if changed is not None:
        registry.history.setdefault(subject, []).append((entry.seq, changed))
        if registry.root_key is None and changed.role == "admin" and changed.key:
            registry.root_key = changed.key
