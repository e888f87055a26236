"""Registry tables (SQLAlchemy 2). Moving a probe to another field is a row update here."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    """Declarative base of the registry."""


class Village(Base):
    """A desa / kampung / pekon."""

    __tablename__ = "villages"

    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    fields: Mapped[list[Field]] = relationship(back_populates="village")


class Field(Base):
    """A farmer's field (lahan / sawah / kebun)."""

    __tablename__ = "fields"

    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    village_id: Mapped[str] = mapped_column(ForeignKey("villages.id"))
    crop: Mapped[str | None] = mapped_column(String(63))
    village: Mapped[Village] = relationship(back_populates="fields")


class Gateway(Base):
    """A Raspberry Pi gateway; its id is also its MQTT username and topic prefix."""

    __tablename__ = "gateways"

    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    devices: Mapped[list[Device]] = relationship(back_populates="gateway")


class Device(Base):
    """A sensor attached to a gateway, placed in a field (or not yet placed)."""

    __tablename__ = "devices"

    gateway_id: Mapped[str] = mapped_column(ForeignKey("gateways.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    kind: Mapped[str] = mapped_column(String(63))
    field_id: Mapped[str | None] = mapped_column(ForeignKey("fields.id"))
    gateway: Mapped[Gateway] = relationship(back_populates="devices")
