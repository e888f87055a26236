"""People, their roles and where alerts reach them (registry tables).

Roles decide what a person sees: a farmer their own fields, an officer (penyuluh, PPL) the
villages assigned to them, the village office its village, an admin everything.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.models import Base, Village


class Role(StrEnum):
    """What a person may see and do."""

    FARMER = "farmer"
    OFFICER = "officer"
    VILLAGE_OFFICE = "village_office"
    ADMIN = "admin"


class Language(StrEnum):
    """Language of a person's pages and messages; Bahasa Indonesia first."""

    ID = "id"
    EN = "en"


officer_villages = Table(
    "officer_villages",
    Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("village_id", ForeignKey("villages.id", ondelete="CASCADE"), primary_key=True),
)


class User(Base):
    """A person who signs in: farmer, officer, village office or admin."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(63), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    # The farmer's or village office's own village; officers use ``villages`` instead.
    village_id: Mapped[str | None] = mapped_column(ForeignKey("villages.id"))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(5), default=Language.ID.value)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    villages: Mapped[list[Village]] = relationship(secondary=officer_villages)


class ApiToken(Base):
    """A bearer token of one user; only its SHA-256 is kept (tokens are 256-bit random)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    last_used_ms: Mapped[int | None] = mapped_column(BigInteger)
    expires_ms: Mapped[int | None] = mapped_column(BigInteger)


class Channel(Base):
    """Where notifications go: an apprise URL of a person, or of a village (group chat, office).

    A person's channel gets the alerts of their villages (officer), village (office) or fields
    (farmer). A village channel gets that village's alerts; with ``escalation`` set it gets only
    escalations, as the village office's channel.
    """

    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    # apprise URL (mailto://, tgram://, json://, ...): may hold a bot token, never shown in full.
    url: Mapped[str] = mapped_column(String(1000))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    village_id: Mapped[str | None] = mapped_column(ForeignKey("villages.id", ondelete="CASCADE"))
    escalation: Mapped[bool] = mapped_column(Boolean, default=False)
    language: Mapped[str] = mapped_column(String(5), default=Language.ID.value)
    max_per_hour: Mapped[int] = mapped_column(Integer, default=20)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
