"""A field's water in the JSON API: today's advice and the daily balance behind it."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel


class SoilPublic(BaseModel):
    """The root zone's soil as the balance uses it (volumetric water content, m3/m3)."""

    name: str
    field_capacity: float
    wilting_point: float
    source: str


class AdvicePublic(BaseModel):
    """Today's water advice (see agronomy/advice.py for each term)."""

    action: Literal["water_now", "water_soon", "not_needed", "drain", "season_over"]
    in_days: int | None  # days until water is needed: 0 today
    amount_mm: float | None  # net irrigation to give then
    litres: float | None  # amount_mm over the field's area
    days_to_stress: int | None
    rain_covered: bool
    confidence: Literal["probe", "model"]
    missing_weather_days: int  # of the last 7
    et0_ahead_mm: float
    depletion_mm: float | None
    raw_mm: float | None
    taw_mm: float | None
    water_level_mm: float | None  # paddy


class WaterDayPublic(BaseModel):
    """One day of the balance (mm); root-zone terms or the paddy's water level."""

    day: date
    et0_mm: float
    et0_source: Literal["measured", "recent_mean", "climate"]
    kc: float
    etc_mm: float
    rain_mm: float
    irrigation_mm: float
    depletion_mm: float | None = None
    raw_mm: float | None = None
    taw_mm: float | None = None
    water_level_mm: float | None = None
    source: Literal["probe", "model", "observed"]


class FieldWaterPublic(BaseModel):
    """A field's water today: advice, or why there is none, and the recent days."""

    field_id: str
    crop: str | None
    soil: SoilPublic | None
    advice: AdvicePublic | None
    no_advice: Literal["no_crop", "unknown_crop", "not_planted", "bad_soil", "inconsistent"] | None
    days: list[WaterDayPublic]
