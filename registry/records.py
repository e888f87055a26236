"""What farmers do to a field (planting, irrigation, fertiliser, lime, harvest) and how a
soil-moisture probe reads in its own soil: the registry's agronomic records.

A record keeps who entered it and when, so an officer entering it on a farmer's behalf is
visible. Amounts are in the unit the kind implies (see ``RecordKind``); the water balance reads
irrigation in millimetres over the field (:func:`irrigation_mm_by_day`).

Records are checked for people at the edge (``api.schemas_records``: limits, crop ids, litres
turned into mm); :func:`add_record` keeps its own floor under every door. Like
``registry.directory``, the functions flush and never commit.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    Select,
    String,
    Text,
    func,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from registry.access import Principal
from registry.models import Base, Field
from registry.people import Role, User
from registry.store import RegistryError, RegistryNotFound


class RecordKind(StrEnum):
    """What was done; the unit of ``amount`` follows from it."""

    PLANTING = "planting"  # amount unused; product: the crop id
    IRRIGATION = "irrigation"  # amount: mm of water over the field
    FERTILISER = "fertiliser"  # amount: kg over the field; product: e.g. "urea", "npk-15-15-15"
    LIME = "lime"  # amount: kg over the field; product: e.g. "dolomit"
    HARVEST = "harvest"  # amount: kg harvested (optional)


class FieldRecord(Base):
    """One thing done to a field on a day."""

    __tablename__ = "field_records"
    __table_args__ = (Index("ix_field_records_field_day", "field_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    field_id: Mapped[str] = mapped_column(ForeignKey("fields.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    day: Mapped[date] = mapped_column(Date)
    amount: Mapped[float | None] = mapped_column(Float)
    product: Mapped[str | None] = mapped_column(String(63))
    note: Mapped[str | None] = mapped_column(Text)
    entered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    entered_ms: Mapped[int] = mapped_column(BigInteger)


class ProbeCalibration(Base):
    """How one device's reading of one quantity maps to the true value in its soil:
    true = raw * scale + offset. Capacitive soil-moisture probes are set at the factory to air
    and water, not to the field's soil, so a two-point calibration in that soil (a dry and a wet
    sample, weighed and oven-dried) is turned into this line."""

    __tablename__ = "probe_calibrations"

    gateway_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    quantity: Mapped[str] = mapped_column(String(63), primary_key=True)
    scale: Mapped[float] = mapped_column(Float, default=1.0)
    offset: Mapped[float] = mapped_column(Float, default=0.0)
    note: Mapped[str | None] = mapped_column(Text)
    set_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    set_ms: Mapped[int] = mapped_column(BigInteger)


# -- entering, listing and deleting records ---------------------------------------------------

# The person who entered a record may delete it for this long after entering it (a typo found
# within the week); staff of the field (officer, village office, admin) may at any time.
DELETE_WINDOW_MS = 7 * 24 * 3600 * 1000
_STAFF = frozenset({Role.OFFICER, Role.VILLAGE_OFFICE, Role.ADMIN})
# Kinds whose amount is required, and the kinds that may carry one.
_AMOUNT_REQUIRED = frozenset({RecordKind.IRRIGATION, RecordKind.FERTILISER, RecordKind.LIME})


class RecordRefused(RegistryError):
    """The person may see the record but not delete it (someone else's, or too old)."""


@dataclass(frozen=True, slots=True)
class NewRecord:
    """A record as checked at the edge (``api.schemas_records``): irrigation already in mm."""

    kind: RecordKind
    day: date
    amount: float | None = None
    product: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class RecordRow:
    """A record with who entered it (None: the account was removed since)."""

    record: FieldRecord
    entered_by: str | None  # username
    entered_by_name: str | None


def _check(data: NewRecord) -> None:
    """The registry's own floor under every door: what the water balance relies on."""
    kind = RecordKind(data.kind)
    if data.amount is not None and not (math.isfinite(data.amount) and data.amount > 0):
        raise RegistryError(
            f"Jumlah harus lebih dari 0 / the amount must be more than 0, got {data.amount!r}"
        )
    if kind in _AMOUNT_REQUIRED and data.amount is None:
        raise RegistryError(f"Catatan {kind} perlu jumlah / a {kind} record needs an amount")
    if kind is RecordKind.PLANTING:
        if data.amount is not None:
            raise RegistryError("Catatan tanam tanpa jumlah / a planting record has no amount")
        if not data.product:
            raise RegistryError("Catatan tanam perlu tanaman / a planting record needs the crop")


def _newest_planting(session: Session, field_id: str) -> FieldRecord | None:
    return session.scalar(
        select(FieldRecord)
        .where(FieldRecord.field_id == field_id, FieldRecord.kind == RecordKind.PLANTING.value)
        .order_by(FieldRecord.day.desc(), FieldRecord.id.desc())
        .limit(1)
    )


def add_record(
    session: Session, field_id: str, data: NewRecord, *, entered_by_id: int | None, now_ms: int
) -> FieldRecord:
    """Keep a record of a field, entered by ``entered_by_id`` (an officer on the farmer's behalf
    is the officer). Flushes, never commits.

    A planting makes its crop (``product``, a crop id) and day the field's ``crop`` and
    ``planted_on`` unless the field already has a later planting: an old season entered
    afterwards is history and does not restart the current season.
    """
    field = session.get(Field, field_id)
    if field is None:
        raise RegistryNotFound(f"Lahan '{field_id}' tidak ada / unknown field '{field_id}'")
    _check(data)
    record = FieldRecord(
        field_id=field_id,
        kind=RecordKind(data.kind).value,
        day=data.day,
        amount=data.amount,
        product=data.product,
        note=data.note,
        entered_by_id=entered_by_id,
        entered_ms=now_ms,
    )
    session.add(record)
    if data.kind is RecordKind.PLANTING and (
        field.planted_on is None or data.day >= field.planted_on
    ):
        field.crop, field.planted_on = data.product, data.day
    session.flush()
    return record


def _records(
    field_id: str,
    since: date | None,
    until: date | None,
    kinds: Collection[RecordKind] | None,
) -> Select[tuple[FieldRecord, str | None, str | None]]:
    """The one query of a field's records, newest day first (entry order within a day)."""
    query = (
        select(FieldRecord, User.username, User.full_name)
        .outerjoin(User, User.id == FieldRecord.entered_by_id)
        .where(FieldRecord.field_id == field_id)
        .order_by(FieldRecord.day.desc(), FieldRecord.id.desc())
    )
    if since is not None:
        query = query.where(FieldRecord.day >= since)
    if until is not None:
        query = query.where(FieldRecord.day <= until)
    if kinds is not None:
        query = query.where(FieldRecord.kind.in_(sorted(RecordKind(k).value for k in kinds)))
    return query


def field_records(
    session: Session,
    field_id: str,
    since: date | None = None,
    until: date | None = None,
    *,
    kinds: Collection[RecordKind] | None = None,
    limit: int | None = None,
) -> list[FieldRecord]:
    """A field's records with ``since <= day <= until`` (either may be None: open), newest day
    first; only ``kinds`` if given."""
    query = _records(field_id, since, until, kinds).limit(limit)
    return [row[0] for row in session.execute(query)]


def record_rows(
    session: Session,
    field_id: str,
    since: date | None = None,
    until: date | None = None,
    *,
    limit: int | None = None,
) -> list[RecordRow]:
    """:func:`field_records` with who entered each, as lists, pages and CSV show them."""
    query = _records(field_id, since, until, None).limit(limit)
    return [RecordRow(record, username, name) for record, username, name in session.execute(query)]


def irrigation_mm_by_day(
    session: Session, field_id: str, start: date, end: date
) -> dict[date, float]:
    """Millimetres of irrigation over the field per day, ``start <= day <= end`` (both
    included); days without irrigation are absent (the water balance reads them as 0)."""
    query = (
        select(FieldRecord.day, func.sum(FieldRecord.amount))
        .where(
            FieldRecord.field_id == field_id,
            FieldRecord.kind == RecordKind.IRRIGATION.value,
            FieldRecord.day >= start,
            FieldRecord.day <= end,
        )
        .group_by(FieldRecord.day)
    )
    return {day: float(total) for day, total in session.execute(query) if total}


def may_delete(record: FieldRecord, principal: Principal, now_ms: int) -> bool:
    """Whether ``principal`` may delete ``record`` of a field they can see: staff of the field
    at any time, the person who entered it within :data:`DELETE_WINDOW_MS` of entering it."""
    if principal.role in _STAFF:
        return True
    return (
        record.entered_by_id == principal.user_id and now_ms - record.entered_ms <= DELETE_WINDOW_MS
    )


def delete_record(
    session: Session, field_id: str, record_id: int, principal: Principal, *, now_ms: int
) -> FieldRecord:
    """Delete a record of a field the principal can see (see :func:`may_delete`); flushes.

    RegistryNotFound for a field out of scope or a record not of this field (the same answer
    as for one that does not exist), RecordRefused when it is visible but not theirs to delete.
    Deleting the planting the field's crop came from puts back the field's newest remaining
    planting; with none left the field keeps its crop and day (what it had before the deleted
    record is not kept: an officer or admin sets it again).
    """
    field = session.get(Field, field_id)
    record = session.get(FieldRecord, record_id)
    if (
        field is None
        or not principal.can_see_field(field.id, field.village_id)
        or record is None
        or record.field_id != field_id
    ):
        raise RegistryNotFound(
            f"Catatan {record_id} tidak ditemukan / record {record_id} not found"
        )
    if not may_delete(record, principal, now_ms):
        days = DELETE_WINDOW_MS // (24 * 3600 * 1000)
        raise RecordRefused(
            f"Catatan ini hanya bisa dihapus oleh yang mencatatnya dalam {days} hari, atau oleh "
            f"penyuluh / only the person who entered this record, within {days} days, or an "
            "extension officer may delete it"
        )
    session.delete(record)
    session.flush()
    planted_from_it = (
        record.kind == RecordKind.PLANTING.value
        and field.crop == record.product
        and field.planted_on == record.day
    )
    if planted_from_it:
        newest = _newest_planting(session, field_id)
        if newest is not None:
            field.crop, field.planted_on = newest.product, newest.day
            session.flush()
    return record
