"""Site settings: read them, and change one as an admin's signed act of the registry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import BmacError, InvalidData
from ..record import Meaning
from ..registry import SETTING
from ..roles import check_permitted
from ..settings import SETTINGS, check, in_force
from ..timeutil import iso
from .recording import Clock
from .registry import append_act, load_registry
from .signing import Credentials, record, record_alone, sign_in

if TYPE_CHECKING:
    from ..store.database import Database


def show(db: Database) -> list[dict[str, Any]]:
    """Every setting: its value in force, default, bounds and what it is."""
    with db.read() as uow:
        values = in_force(load_registry(uow).settings)
    return [
        {
            "name": s.name,
            "value": values[s.name],
            "default": s.default,
            "low": s.low,
            "high": s.high,
            "what": s.what,
        }
        for s in SETTINGS.values()
    ]


def change(name: str, value: str, by: Credentials, clock: Clock, db: Database) -> int:
    """Set a setting (admin; signed), within its bounds; returns the value now in force."""
    number = check(name, value)
    signed = sign_in(by, clock(), db)
    now = clock()
    try:
        check_permitted("change_settings", signed.holder.role)
        if in_force(signed.registry.settings)[name] == number:
            raise InvalidData(f"{name} is {number} already")
        with db.write() as uow:
            record(signed, now, uow)
            signer = signed.signer(Meaning.APPROVED)
            append_act(uow, signer, SETTING, name, {"value": number}, iso(now))
            uow.commit()
        return number
    except BmacError:
        record_alone(signed, now, db)
        raise
