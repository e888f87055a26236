"""Response models of the JSON API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel


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
