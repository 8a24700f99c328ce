"""The repository's part for the operator registry: its signed, hash-chained entries."""

from __future__ import annotations

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from ..errors import Conflict
from ..record import digest
from ..registry import RegistryEntry
from .statements import Rows
from .tables import registry


class RegistryRows(Rows):
    """The registry on the unit of work's connection."""

    def registry_rows(self) -> list[tuple[int, str, str]]:
        """Every registry entry as stored (seq, body, hash), oldest first."""
        query = select(registry.c.seq, registry.c.body, registry.c.hash).order_by(registry.c.seq)
        return [(int(r[0]), str(r[1]), str(r[2])) for r in self._execute(query)]

    def registry_length(self) -> int:
        """How many entries the registry holds."""
        return int(self._execute(select(func.count()).select_from(registry)).scalar_one())

    def append_registry(self, entry: RegistryEntry) -> str:
        """Append a registry entry and return its hash; a taken seq means another act came
        first (nothing is written)."""
        body = entry.body()
        entry_hash = digest(body)
        try:
            self._execute(insert(registry).values(seq=entry.seq, body=body, hash=entry_hash))
        except IntegrityError:
            raise Conflict(
                "the operator registry changed while this command ran (another admin's act, "
                "or a first sign-in): nothing was written; try again"
            ) from None
        return entry_hash
