"""Quality acts: hold and release a kit lot, add, calibrate and check a device (each a signed
act of the quality log, in one write unit of work), list them, and the gates' facts for a step.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from .. import text_policy
from ..errors import BmacError, InvalidData, NotAllowed, NotFound
from ..gates import Gates, materials
from ..guards import LOT_NOT_HELD, NO_OPEN_DEVIATION
from ..quality import (
    ACTS,
    CALIBRATE,
    DEVICE_ADD,
    HOLD,
    QC,
    RELEASE,
    Quality,
    QualityEntry,
    fold,
)
from ..quality_checks import fits
from ..record import GENESIS, Meaning
from ..roles import check_permitted
from ..text_policy import shown
from ..timeutil import iso
from .recording import Clock, clinical_time
from .signing import Credentials, record, record_alone, sign_in

if TYPE_CHECKING:
    from ..record import CaseSnapshot
    from ..steps import Step
    from ..store.database import Database
    from ..store.unit_of_work import UnitOfWork


def _text(value: str | None, option: str, what: str) -> str:
    """Typed free text (a reason, a note) under the text policy; refused empty."""
    text = (value or "").strip()
    if not text:
        raise InvalidData(f"{option} is empty: {what}")
    return text_policy.check(text, option, text_policy.TEXT_FIELD)


def _name(value: str | None, option: str, what: str) -> str:
    """A lot or device identifier under the text policy (no control or invisible characters,
    the identifier length)."""
    text = (value or "").strip()
    if not text:
        raise InvalidData(f"{option} is empty: {what}")
    return text_policy.check(text, option, text_policy.ID_FIELD)


def _due(text: str, option: str) -> str:
    try:
        return date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        raise InvalidData(f"{option} {shown(text)} is not a date: use YYYY-MM-DD") from None


def act(
    action: str,
    subject: str,
    data: dict[str, Any],
    by: Credentials,
    clock: Clock,
    db: Database,
    at: str | None = None,
) -> QualityEntry:
    """Sign and append one quality act, checked in the README's order: sign-in, role, the
    state of the lot or device (4 when it does not fit), the commit."""
    signed = sign_in(by, clock(), db)
    now = clock()
    kind, permission = ACTS[action]
    try:
        check_permitted(permission, signed.holder.role)
        when = iso(clinical_time(at, None, now))
        with db.write() as uow:
            position = record(signed, now, uow) or signed.registry.length
            rows = uow.repo.quality_rows([(kind, subject)])
            why = fits(_draft(action, kind, subject), _fold(rows))
            if why:
                raise (NotFound if "not registered" in why else NotAllowed)(_way(why, action))
            seq = uow.repo.quality_length()
            head = uow.repo.quality_rows_head(seq) if seq else GENESIS
            signer = signed.signer(Meaning.APPROVED)
            entry = QualityEntry(
                seq + 1, action, kind, subject, data, when, iso(now), signer.signature,
                position, head,
            )  # fmt: skip
            entry = QualityEntry(
                **{**entry.__dict__, "signatures": {"signer": signer.sign(entry.content())}}
            )
            uow.repo.append_quality(entry)
            uow.commit()
        return entry
    except BmacError:
        record_alone(signed, now, db)
        raise


def _draft(action: str, kind: str, subject: str) -> QualityEntry:
    from ..record import Signature

    return QualityEntry(0, action, kind, subject, {}, "", "", Signature("", "", "", ""), 0, "")


def _way(why: str, action: str) -> str:
    ways = {
        HOLD: "`bmac lot release` first, or leave it held",
        RELEASE: "`bmac lot hold` holds it",
        DEVICE_ADD: "`bmac device calibrate` or `bmac device qc` it",
        CALIBRATE: "`bmac device add` registers it",
        QC: "`bmac device add` registers it",
    }
    return f"{why}: {ways[action]} (`bmac device list`, `bmac trace lot LOT`)"


def _fold(rows: list[tuple[Any, ...]]) -> Quality:
    return fold([(QualityEntry.from_body(body), entry_hash) for *_, body, entry_hash in rows])


def hold(lot: str, reason: str, by: Credentials, clock: Clock, db: Database) -> QualityEntry:
    """Hold a kit lot (qa or surgeon): every case that used it stops at its next step."""
    lot = _name(lot, "LOT", "name the kit lot")
    why = _text(reason, "--reason", "say why the lot is held")
    return act(HOLD, lot, {"reason": why}, by, clock, db)


def release(lot: str, reason: str, by: Credentials, clock: Clock, db: Database) -> QualityEntry:
    """Release a held kit lot (qa or surgeon)."""
    lot = _name(lot, "LOT", "name the kit lot")
    why = _text(reason, "--reason", "say why the lot may be used again")
    return act(RELEASE, lot, {"reason": why}, by, clock, db)


def add_device(
    device_id: str, kind: str, due: str, by: Credentials, clock: Clock, db: Database
) -> QualityEntry:
    """Register a device with its calibration due date (admin or qa)."""
    from ..step_data import DEVICE_KINDS

    if kind not in DEVICE_KINDS:
        raise InvalidData(f"--kind must be one of {', '.join(DEVICE_KINDS)}")
    device_id = _name(device_id, "ID", "name the device")
    data = {"kind": kind, "calibration_due": _due(due, "--calibration-due")}
    return act(DEVICE_ADD, device_id, data, by, clock, db)


def calibrate(
    device_id: str, due: str, by: Credentials, clock: Clock, db: Database
) -> QualityEntry:
    """Record a device's calibration and its next due date (admin or qa)."""
    data = {"calibration_due": _due(due, "--due")}
    return act(CALIBRATE, _name(device_id, "ID", "name the device"), data, by, clock, db)


def check(
    device_id: str,
    passed: bool,
    note: str | None,
    by: Credentials,
    clock: Clock,
    db: Database,
    at: str | None = None,
) -> QualityEntry:
    """Record a device's QC, passed or failed (admin or qa)."""
    data: dict[str, Any] = {"passed": passed}
    if note is not None:
        data["note"] = _text(note, "--note", "leave it out, or say what was seen")
    return act(QC, _name(device_id, "ID", "name the device"), data, by, clock, db, at)


def listing(db: Database) -> dict[str, Any]:
    """Every device as it stands (its last QC) and every lot held now."""
    with db.read() as uow:
        return listing_in(uow)


def listing_in(uow: UnitOfWork) -> dict[str, Any]:
    """`listing` in the caller's unit of work (a signed read: services/reads.py)."""
    quality = _fold(uow.repo.quality_rows())
    devices = []
    for device in quality.device_list():
        checks = quality.checks_of(device.id)
        last = checks[-1] if checks else None
        devices.append(
            {
                "id": device.id,
                "kind": device.kind,
                "calibration_due": device.calibration_due,
                "last_qc_at": last.at if last else None,
                "last_qc_passed": last.passed if last else None,
                "last_qc_by": last.by if last else None,
            }
        )
    held = [
        {"lot": h.lot, "since": h.at, "by": h.by, "reason": h.reason, "act": h.seq}
        for h in quality.held_lots()
    ]
    return {"devices": devices, "held_lots": held}


def gates_for(uow: UnitOfWork, case: CaseSnapshot, step: Step, data: Any) -> Gates:
    """The lot holds, devices and open deviations a step of `case` with `data` meets."""
    found = materials(step, data)
    position, lot_acts = uow.repo.quality_position()
    # No lot was ever held: which lots the case used cannot matter (no read for them).
    asks_lots = lot_acts and LOT_NOT_HELD.name in step.guard_names
    case_lots = uow.repo.case_lots(case.case_id) if asks_lots else set()
    about = sorted({*found, *(("lot", lot) for lot in case_lots)})
    quality = _fold(uow.repo.quality_rows(about)) if about and position else Quality()
    labels: tuple[str, ...] = ()
    if NO_OPEN_DEVIATION.name in step.guard_names:
        from ..deviations import label

        rows = uow.repo.deviations(case.case_id, open_only=True)
        labels = tuple(label(r.id, r.kind, r.seq) for r in rows)
    return Gates(quality, position, frozenset(case_lots), labels)
