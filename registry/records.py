"""What farmers do to a field (planting, irrigation, fertiliser, lime, harvest) and how a
soil-moisture probe reads in its own soil: the registry's agronomic records.

A record keeps who entered it and when, so an officer entering it on a farmer's behalf is
visible. Amounts are in the unit the kind implies (see ``RecordKind``); the water balance reads
irrigation in millimetres over the field.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from sqlalchemy import BigInteger, Date, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from registry.models import Base


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
