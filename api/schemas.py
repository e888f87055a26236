"""Request and response models of the JSON API; registry inputs are ``registry.directory``'s."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField

from registry.alerting import AlertState, RuleKind, Scope, Severity
from registry.directory import UserIn
from registry.people import Role


def utc_time(time_ms: int) -> datetime:
    """A registry time (epoch milliseconds) as an aware UTC datetime, as responses carry it."""
    return datetime.fromtimestamp(time_ms / 1000, tz=UTC)


class ReadingPublic(BaseModel):
    """The latest value of one quantity in a field."""

    quantity: str
    label_id: str
    label_en: str
    device_id: str
    value: float
    unit: str
    time: datetime
    quality: Literal["good", "suspect", "bad"]


class FieldLatestPublic(BaseModel):
    """A field with the latest value of everything measured in it."""

    field_id: str
    name: str
    village_id: str
    crop: str | None
    readings: list[ReadingPublic]


class DependencyHealth(BaseModel):
    """Whether one backing service answers."""

    ok: bool
    detail: str


class HealthPublic(BaseModel):
    """What ``/healthz`` reports."""

    status: Literal["ok", "degraded"]
    broker: DependencyHealth
    influxdb: DependencyHealth


class TokenPublic(BaseModel):
    """A new API token, shown once (OAuth2 token response)."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime | None


class MePublic(BaseModel):
    """The signed-in person and what their role lets them see (None: everything)."""

    username: str
    full_name: str
    role: Role
    language: str
    villages: list[str] | None
    fields: list[str] | None


class NoteIn(BaseModel):
    """An optional note with an acknowledgement or resolution."""

    model_config = ConfigDict(extra="forbid")
    note: str | None = PydanticField(default=None, max_length=500)


class AlertEventPublic(BaseModel):
    """One step in an alert's history."""

    time: datetime
    kind: str
    user: str | None
    detail: str | None


class AlertPublic(BaseModel):
    """An alert: what, where, since when, and who acknowledged or resolved it."""

    id: int
    rule_name: str
    kind: RuleKind
    severity: Severity
    state: AlertState
    subject: str
    gateway_id: str
    device_id: str | None
    quantity: str | None
    field_id: str | None
    field_name: str | None
    village_id: str | None
    since: datetime
    opened_at: datetime
    value: float | None
    threshold: float | None
    last_value: float | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    escalated_at: datetime | None


class AlertDetailPublic(AlertPublic):
    """An alert with its history."""

    events: list[AlertEventPublic]


class VillagePublic(BaseModel):
    """A village."""

    id: str
    name: str
    district: str | None


class FieldPublic(BaseModel):
    """A field and its owner's username."""

    id: str
    name: str
    village_id: str
    crop: str | None
    owner: str | None
    planted_on: date | None
    latitude: float | None
    longitude: float | None


class DevicePublic(BaseModel):
    """A device of a gateway and the field it is in."""

    gateway_id: str
    id: str
    kind: str
    field_id: str | None


class GatewayPublic(BaseModel):
    """A gateway and its devices."""

    id: str
    name: str
    village_id: str | None
    devices: list[DevicePublic]


class UserPublic(BaseModel):
    """A person, without anything secret."""

    username: str
    full_name: str
    role: Role
    village_id: str | None
    villages: list[str]
    language: str
    active: bool


class UserCreate(UserIn):
    """A new person; without a password they can use only tokens an admin issues them."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
    password: str | None = None


class PasswordIn(BaseModel):
    """A new password (checked and hashed by the registry)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
    password: str


class TokenRequest(BaseModel):
    """An admin-issued token: a label saying what it is for, and a lifetime (None: no end)."""

    model_config = ConfigDict(extra="forbid")
    label: str = PydanticField(min_length=1, max_length=100)
    ttl_days: int | None = PydanticField(default=None, ge=1, le=3650)


class RulePublic(BaseModel):
    """An alert rule."""

    name: str
    kind: RuleKind
    quantity: str | None
    threshold: float | None
    clear_threshold: float | None
    duration_s: int
    window_s: int | None
    scope: Scope
    scope_value: str | None
    severity: Severity
    enabled: bool
    note: str | None


class RuleEnabledIn(BaseModel):
    """Switch a rule on or off."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool


class ChannelPublic(BaseModel):
    """A notification channel; its URL with secrets masked."""

    id: int
    name: str
    url: str
    user: str | None
    village_id: str | None
    escalation: bool
    language: str
    max_per_hour: int
    enabled: bool
