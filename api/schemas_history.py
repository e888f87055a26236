"""Response models of the history and village summary endpoints."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel

from storage.history import Source


class HistoryPointPublic(BaseModel):
    """Statistics of the readings in one step, which starts at ``time``."""

    time: datetime
    mean: float
    min: float
    max: float
    count: int
    sum: float | None  # rain only: millimetres fallen in the step


class HistoryPublic(BaseModel):
    """A quantity's history in a field, at most ``points`` points."""

    field_id: str
    quantity: str
    label_id: str
    label_en: str
    unit: str
    start: datetime
    end: datetime
    source: Source
    step_s: int
    points: list[HistoryPointPublic]


class StatsPublic(BaseModel):
    """Mean (weighted by readings), minimum and maximum over the period."""

    mean: float
    min: float
    max: float
    count: int


class FieldSummaryPublic(BaseModel):
    """One field's week or month (see storage/summaries.py for each definition)."""

    field_id: str
    name: str
    crop: str | None
    rainfall_mm: float | None
    soil_moisture: StatsPublic | None
    soil_temperature: StatsPublic | None
    dry_threshold: float
    dry_days: int
    days_with_moisture: int
    completeness: float | None
    uptime: float | None
    alerts_raised: int
    alerts_acknowledged: int
    # From the field's daily water balance (FAO-56 ch. 8), summed over the period's days that
    # have one (None: no balance, e.g. no crop or planting recorded).
    et0_mm: float | None = None
    etc_mm: float | None = None  # the crop's water use without stress
    irrigation_mm: float | None = None
    # ETc - effective rain - irrigation, when positive: water the crop went short of.
    water_deficit_mm: float | None = None
    needs_water: bool | None = None  # the latest day's advice was "water now"


class WeekWaterPublic(BaseModel):
    """The village's weather in one week (Monday to Sunday, local days): reference
    evapotranspiration and rain, each the mean over the fields' balances (they share stations)."""

    start: date
    et0_mm: float
    rain_mm: float


class VillageSummaryPublic(BaseModel):
    """A village's fields over a week or a calendar month of local days."""

    village_id: str
    name: str
    period: Literal["week", "month"]
    start: date
    end: date  # the last day, inclusive
    utc_offset_h: int
    fields: list[FieldSummaryPublic]
    weeks: list[WeekWaterPublic] = []
    fields_needing_water: int = 0
