"""Registry tables of places (SQLAlchemy 2). Moving a probe to another field is a row update here.

People and their access are in ``registry.people``; alert rules and alert state in
``registry.alerting``. All share one ``Base``, so one Alembic history covers the database.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, Float, ForeignKey, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Named constraints, so Alembic can alter them on SQLite (batch mode) and PostgreSQL alike.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of the registry."""

    metadata = MetaData(naming_convention=NAMING)


class Village(Base):
    """A desa / kampung / pekon."""

    __tablename__ = "villages"

    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    district: Mapped[str | None] = mapped_column(String(200))
    fields: Mapped[list[Field]] = relationship(back_populates="village")


class Field(Base):
    """A farmer's field (lahan / sawah / kebun)."""

    __tablename__ = "fields"

    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    village_id: Mapped[str] = mapped_column(ForeignKey("villages.id"))
    crop: Mapped[str | None] = mapped_column(String(63))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    planted_on: Mapped[date | None] = mapped_column(Date)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    elevation_m: Mapped[float | None] = mapped_column(Float)
    area_m2: Mapped[float | None] = mapped_column(Float)
    # The root zone's soil: an FAO-56 Table 19 texture class (agronomy.soils), or its sand and
    # clay (%) from a lab, which the pedotransfer function turns into field capacity.
    soil_texture: Mapped[str | None] = mapped_column(String(20))
    sand_pct: Mapped[float | None] = mapped_column(Float)
    clay_pct: Mapped[float | None] = mapped_column(Float)
    # Rice only: "awd" (alternate wetting and drying) or "flooded" (kept ponded).
    water_regime: Mapped[str | None] = mapped_column(String(10))
    village: Mapped[Village] = relationship(back_populates="fields")


class Gateway(Base):
    """A Raspberry Pi gateway; its id is also its MQTT username and topic prefix."""

    __tablename__ = "gateways"

    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    village_id: Mapped[str | None] = mapped_column(ForeignKey("villages.id"))
    devices: Mapped[list[Device]] = relationship(back_populates="gateway")


class Device(Base):
    """A sensor attached to a gateway, placed in a field (or not yet placed)."""

    __tablename__ = "devices"

    gateway_id: Mapped[str] = mapped_column(ForeignKey("gateways.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    kind: Mapped[str] = mapped_column(String(63))
    field_id: Mapped[str | None] = mapped_column(ForeignKey("fields.id"))
    gateway: Mapped[Gateway] = relationship(back_populates="devices")
