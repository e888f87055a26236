"""Admin operations on the registry: one place that checks input and changes rows.

The ``tani`` admin commands and the HTTP API both call these, so a village, field, user or
channel is checked the same way whichever door it came through (alert rules: ``alerts.rules``).
The ``*In`` models check the input alone; the functions check it against the database.
Functions take a Session and never commit (the caller owns the transaction); they flush, so
refusals and new ids show at once.
Refusals raise RegistryError with a message in Bahasa Indonesia, then English, saying what to fix.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Self, TypeVar
from urllib.parse import urlsplit

import apprise
from pydantic import BaseModel, ConfigDict, StringConstraints, field_validator, model_validator
from pydantic import Field as PydanticField
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from registry.access import hash_password
from registry.models import Base, Device, Field, Gateway, Village
from registry.people import ApiToken, Channel, Language, Role, User
from registry.store import Identifier, RegistryConflict, RegistryError, RegistryNotFound

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Username = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")]

_Row = TypeVar("_Row", bound=Base)


class Input(BaseModel):
    """Base of the admin input models: unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")


class VillageIn(Input):
    """A village (desa / kampung / pekon)."""

    id: Identifier
    name: Name
    district: Name | None = None


class FieldIn(Input):
    """A field; ``owner`` is the farmer's username."""

    id: Identifier
    name: Name
    village_id: Identifier
    crop: Identifier | None = None
    owner: Username | None = None
    planted_on: date | None = None
    latitude: float | None = PydanticField(default=None, ge=-90, le=90)
    longitude: float | None = PydanticField(default=None, ge=-180, le=180)


class GatewayIn(Input):
    """A gateway; its id is also its MQTT username."""

    id: Identifier
    name: Name
    village_id: Identifier | None = None


class DeviceIn(Input):
    """A device of a gateway and the field it is in (None: not placed)."""

    gateway_id: Identifier
    id: Identifier
    kind: Identifier
    field_id: Identifier | None = None


class UserIn(Input):
    """A person. Farmers and village offices belong to one village, officers cover several."""

    username: Username
    full_name: Name
    role: Role
    village_id: Identifier | None = None
    villages: list[Identifier] = PydanticField(default_factory=list)
    language: Language = Language.ID

    @model_validator(mode="after")
    def _places_fit_role(self) -> Self:
        if self.role is Role.OFFICER:
            if not self.villages:
                raise ValueError(
                    "Penyuluh perlu minimal satu desa (villages) / an officer needs villages"
                )
            if self.village_id is not None:
                raise ValueError(
                    "Penyuluh memakai villages, bukan village_id / officers use villages, "
                    "not village_id"
                )
        elif self.role is Role.ADMIN:
            if self.village_id is not None or self.villages:
                raise ValueError("Admin tidak terikat desa / an admin has no village")
        else:
            if self.village_id is None:
                raise ValueError(
                    "Petani dan kantor desa perlu village_id / a farmer or village office "
                    "needs village_id"
                )
            if self.villages:
                raise ValueError(
                    "Hanya penyuluh yang punya beberapa desa / only officers cover several villages"
                )
        return self


class ChannelIn(Input):
    """Where notifications go: an apprise URL of one person (``user``) or of one village."""

    # The URL may hold a password or a bot token: keep it out of error texts and logs.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    url: Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]
    user: Username | None = None
    village_id: Identifier | None = None
    escalation: bool = False
    language: Language = Language.ID
    max_per_hour: int = PydanticField(default=20, ge=1, le=3600)
    enabled: bool = True

    @field_validator("url")
    @classmethod
    def _apprise_url(cls, value: str) -> str:
        if not apprise.Apprise().add(value):
            scheme = urlsplit(value).scheme or "?"
            raise ValueError(
                f"URL apprise tidak valid (skema '{scheme}') / not a valid apprise URL "
                "(see https://github.com/caronc/apprise/wiki)"
            )
        return value

    @model_validator(mode="after")
    def _one_owner(self) -> Self:
        if (self.user is None) == (self.village_id is None):
            raise ValueError(
                "Saluran milik satu orang (user) atau satu desa (village_id) / a channel "
                "belongs to either a user or a village"
            )
        if self.escalation and self.village_id is None:
            raise ValueError(
                "Eskalasi hanya untuk saluran desa / escalation is for village channels"
            )
        return self


def require_row(session: Session, model: type[_Row], key: Any, noun_id: str, noun_en: str) -> _Row:
    """The row of ``model`` with primary key ``key``; RegistryError naming it if none."""
    row = session.get(model, key)
    if row is None:
        raise RegistryNotFound(f"{noun_id} '{key}' tidak ada / unknown {noun_en} '{key}'")
    return row


def require_village(session: Session, village_id: str | None) -> None:
    """RegistryError unless the village exists (None passes: no village given)."""
    if village_id is not None:
        require_row(session, Village, village_id, "Desa", "village")


def saved(session: Session, row: _Row) -> _Row:
    """Add and flush a row, so refusals and new ids show at once."""
    session.add(row)
    session.flush()
    return row


def upsert_village(session: Session, data: VillageIn) -> Village:
    """Add a village, or update the one with this id."""
    village = session.get(Village, data.id) or Village(id=data.id)
    village.name, village.district = data.name, data.district
    return saved(session, village)


def upsert_field(session: Session, data: FieldIn) -> Field:
    """Add a field, or replace every detail of the one with this id (omitted ones are cleared)."""
    require_village(session, data.village_id)
    owner = None if data.owner is None else _active_user(session, data.owner)
    field = session.get(Field, data.id) or Field(id=data.id)
    field.name, field.village_id, field.crop = data.name, data.village_id, data.crop
    field.owner_id = None if owner is None else owner.id
    field.planted_on = data.planted_on
    field.latitude, field.longitude = data.latitude, data.longitude
    return saved(session, field)


def upsert_gateway(session: Session, data: GatewayIn) -> Gateway:
    """Add a gateway, or update the one with this id."""
    require_village(session, data.village_id)
    gateway = session.get(Gateway, data.id) or Gateway(id=data.id)
    gateway.name, gateway.village_id = data.name, data.village_id
    return saved(session, gateway)


def upsert_device(session: Session, data: DeviceIn) -> Device:
    """Add a device, or change its kind or field (moving a probe is this, not a re-flash)."""
    require_row(session, Gateway, data.gateway_id, "Gateway", "gateway")
    if data.field_id is not None:
        require_row(session, Field, data.field_id, "Lahan", "field")
    device = session.get(Device, (data.gateway_id, data.id))
    if device is None:
        device = Device(gateway_id=data.gateway_id, id=data.id)
    device.kind, device.field_id = data.kind, data.field_id
    return saved(session, device)


def get_user(session: Session, username: str) -> User:
    """The user with this username, active or not."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise RegistryNotFound(f"Pengguna '{username}' tidak ada / unknown user '{username}'")
    return user


def _active_user(session: Session, username: str) -> User:
    user = get_user(session, username)
    if not user.active:
        raise RegistryError(f"Akun '{username}' tidak aktif / user '{username}' is deactivated")
    return user


def _hash(password: str) -> str:
    try:
        return hash_password(password)
    except ValueError as exc:
        raise RegistryError(str(exc)) from None


def _check_username_free(session: Session, username: str) -> None:
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise RegistryConflict(
            f"Nama pengguna '{username}' sudah dipakai / username '{username}' is taken"
        )


def _apply_user(session: Session, user: User, data: UserIn) -> None:
    require_village(session, data.village_id)
    villages = [
        require_row(session, Village, v, "Desa", "village") for v in dict.fromkeys(data.villages)
    ]
    user.username, user.full_name = data.username, data.full_name
    user.role, user.language = data.role.value, data.language.value
    user.village_id, user.villages = data.village_id, villages


def create_user(session: Session, data: UserIn, password: str | None, now_ms: int) -> User:
    """Add a person; without a password they can use only API tokens issued to them."""
    _check_username_free(session, data.username)
    user = User(
        created_ms=now_ms,
        active=True,
        password_hash=None if password is None else _hash(password),
    )
    _apply_user(session, user, data)
    return saved(session, user)


def update_user(session: Session, username: str, data: UserIn) -> User:
    """Change a person's name, role, villages or language (a new username renames them)."""
    user = get_user(session, username)
    if data.username != username:
        _check_username_free(session, data.username)
    _apply_user(session, user, data)
    return saved(session, user)


def set_password(session: Session, username: str, password: str) -> None:
    """Set a person's password (at least 8 characters; stored as an argon2id hash)."""
    get_user(session, username).password_hash = _hash(password)
    session.flush()


def deactivate_user(session: Session, username: str) -> None:
    """Stop a person signing in: the account stays (history names them), tokens are deleted."""
    user = get_user(session, username)
    user.active = False
    session.execute(delete(ApiToken).where(ApiToken.user_id == user.id))
    session.flush()


def add_channel(session: Session, data: ChannelIn) -> Channel:
    """Add a notification channel of an active person or of a village."""
    user = None if data.user is None else _active_user(session, data.user)
    require_village(session, data.village_id)
    channel = Channel(
        name=data.name,
        url=data.url,
        user_id=None if user is None else user.id,
        village_id=data.village_id,
        escalation=data.escalation,
        language=data.language.value,
        max_per_hour=data.max_per_hour,
        enabled=data.enabled,
    )
    return saved(session, channel)


def delete_channel(session: Session, channel_id: int) -> None:
    """Delete a channel and its queued deliveries."""
    session.delete(require_row(session, Channel, channel_id, "Saluran", "channel"))
    session.flush()


def list_villages(session: Session) -> list[Village]:
    """Every village, by id."""
    return list(session.scalars(select(Village).order_by(Village.id)))


def list_fields(session: Session) -> list[Field]:
    """Every field, by id."""
    return list(session.scalars(select(Field).order_by(Field.id)))


def list_gateways(session: Session) -> list[Gateway]:
    """Every gateway, by id."""
    return list(session.scalars(select(Gateway).order_by(Gateway.id)))


def list_users(session: Session) -> list[User]:
    """Every person, deactivated ones included, by id."""
    return list(session.scalars(select(User).order_by(User.id)))


def list_channels(session: Session) -> list[Channel]:
    """Every channel, by id."""
    return list(session.scalars(select(Channel).order_by(Channel.id)))


def redacted_url(url: str) -> str:
    """An apprise URL fit to show: scheme and host, secrets masked, path and options hidden.

    apprise knows which part of each service's URL is secret (a Telegram bot token sits where a
    host would) and masks it; the path (a webhook's secret, e-mail recipients) and query (custom
    headers such as an authorization token) are left out altogether.
    """
    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        return f"{urlsplit(url).scheme or '?'}://***"
    shown = urlsplit(plugin.url(privacy=True))
    rest = "/..." if shown.path.strip("/") else ""
    return f"{shown.scheme}://{shown.netloc}{rest}"
