"""Each field's water balance and advice today, from what the registry and InfluxDB hold.

The one place that gathers a field's inputs for ``agronomy``: its crop, planting date, soil and
area (registry), the village's weather station and rain gauge and the field's soil-moisture
probes (daily rollups, one query per village), the probes' calibrations and the farmer's
irrigation records. The field page, the JSON API, the village summary and the water-stress
alerts all call it, so they cannot disagree.

Weather: the field's own station if it has one, else the village's station with the most days.
ET0 of a day needs its station to have reported in at least ``FULL_DAY_HOURS`` hours (a day
half missing has a wrong Tmax or mean radiation); other days, and today, fall back to the recent
mean (``agronomy.water_balance.resolve_et0``) and count as missing weather.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from agronomy.advice import Advice, paddy_advice, root_zone_advice
from agronomy.crops import CROPS, BeforePlantingError, Crop, GrowingDegreeDaysError
from agronomy.et0 import DailyInputs, ET0InputError, daily_et0
from agronomy.paddy import PaddyMode, PaddyRun, PaddySettings, run_paddy
from agronomy.soils import (
    CalibrationError,
    ProbeCalibration,
    Soil,
    SoilError,
    UnknownSoilError,
    field_soil,
)
from agronomy.water_balance import (
    BalanceInputError,
    BalanceRun,
    BalanceSettings,
    DayInput,
    run_balance,
)
from alerts.local_time import local_midnight_ms
from registry.models import Field
from registry.records import ProbeCalibration as StoredCalibration
from registry.records import irrigation_mm_by_day
from storage.field_days import DayStats, SeriesKey, village_days
from storage.influx import InfluxDB

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
FULL_DAY_HOURS = 20  # judgement: a station that missed more than 4 hours missed part of the day
# A perennial's (or an undated) balance starts this many days back, at field capacity: long
# enough for the start to be forgotten (a root zone turns over in a few weeks of ETc).
LOOKBACK_DAYS = 120
# Up to this many fields of a village name their fields in the query; more read all probes.
FEW_FIELDS = 20
W_M2_TO_MJ_DAY = 0.0864  # mean W/m2 over a day -> MJ/m2/day (86,400 s / 1e6)


class NoAdvice(StrEnum):
    """Why a field has no water advice; the page says what to do about it."""

    NO_CROP = "no_crop"  # record a planting
    UNKNOWN_CROP = "unknown_crop"  # the crop is not in agronomy.crops
    NOT_PLANTED = "not_planted"  # no planting date, or it is in the future
    BAD_SOIL = "bad_soil"  # the registry's soil (texture, sand/clay) cannot be used
    INCONSISTENT = "inconsistent"  # the records contradict each other (logged with the reason)


@dataclass(frozen=True, slots=True)
class FieldWater:
    """A field's water today: advice, or why there is none, and the balance behind it."""

    field_id: str
    crop: Crop | None
    soil: Soil | None
    advice: Advice | None
    no_advice: NoAdvice | None
    root_zone: BalanceRun | None = None
    paddy: PaddyRun | None = None


@dataclass(frozen=True, slots=True)
class _Weather:
    """A station's day as ET0 needs it."""

    tmax: float
    tmin: float
    rh_max: float | None
    rh_min: float | None
    wind: float | None
    rs_mj: float | None


def _day_of(ms: int, utc_offset_h: int) -> date:
    zone = timezone(timedelta(hours=utc_offset_h))
    return datetime.fromtimestamp(ms / 1000, tz=zone).date()


def _start(field: Field, crop: Crop, today: date) -> date:
    earliest = today - timedelta(days=LOOKBACK_DAYS)
    planted = field.planted_on
    if planted is None or crop.perennial:
        return earliest if planted is None else max(planted, earliest)
    # An annual crop from its planting, but not from a season long over.
    return max(planted, today - timedelta(days=int(crop.stages.total) + LOOKBACK_DAYS))


class _VillageDays:
    """The village's daily rollups, keyed for the lookups a balance makes."""

    def __init__(self, series: dict[SeriesKey, dict[int, DayStats]], utc_offset_h: int) -> None:
        self._by: dict[tuple[str, str], dict[tuple[str, str], dict[date, DayStats]]] = defaultdict(
            dict
        )
        for key, days in series.items():
            device = (key.gateway_id, key.device_id)
            self._by[(key.field_id, key.quantity)][device] = {
                _day_of(ms, utc_offset_h): stats for ms, stats in days.items()
            }

    def devices(self, field_id: str, quantity: str) -> dict[tuple[str, str], dict[date, DayStats]]:
        """{device: {day: stats}} of a quantity placed in ``field_id``."""
        return self._by.get((field_id, quantity), {})

    def station(self, field_id: str) -> tuple[str, tuple[str, str]] | None:
        """(field id, device) of the weather station for ``field_id``: its own, else the
        village's with the most days of air temperature."""
        own = self.devices(field_id, "air_temperature")
        if own:
            return field_id, max(own, key=lambda d: len(own[d]))
        found = [
            (len(days), placed, device)
            for (placed, quantity), devices in self._by.items()
            if quantity == "air_temperature"
            for device, days in devices.items()
        ]
        if not found:
            return None
        _, placed, device = max(found)
        return placed, device

    def of(self, field_id: str, device: tuple[str, str], quantity: str) -> dict[date, DayStats]:
        """One device's days of one quantity."""
        return self._by.get((field_id, quantity), {}).get(device, {})


def _weather(
    days: _VillageDays, station: tuple[str, tuple[str, str]], day: date
) -> _Weather | None:
    placed, device = station
    temp = days.of(placed, device, "air_temperature").get(day)
    if temp is None or (temp.hours or 0) < FULL_DAY_HOURS:
        return None
    humidity = days.of(placed, device, "air_humidity").get(day)
    wind = days.of(placed, device, "wind_speed").get(day)
    solar = days.of(placed, device, "solar_radiation").get(day)
    full = (solar.hours or 0) >= FULL_DAY_HOURS if solar else False
    return _Weather(
        tmax=temp.max,
        tmin=temp.min,
        rh_max=None if humidity is None else min(humidity.max, 100.0),
        rh_min=None if humidity is None else humidity.min,
        wind=None if wind is None else wind.mean,
        rs_mj=solar.mean * W_M2_TO_MJ_DAY if solar and full else None,
    )


def _et0(
    weather: _Weather | None, day: date, latitude: float | None, elevation: float
) -> float | None:
    if weather is None or latitude is None:
        return None
    try:
        return daily_et0(
            DailyInputs(
                day_of_year=day.timetuple().tm_yday,
                latitude_deg=latitude,
                elevation_m=elevation,
                tmax_c=weather.tmax,
                tmin_c=weather.tmin,
                rh_max=weather.rh_max,
                rh_min=weather.rh_min,
                wind_m_s=weather.wind,
                rs_mj_m2=weather.rs_mj,
            )
        ).et0_mm
    except ET0InputError as exc:
        log.warning("station day not usable for ET0", extra={"day": str(day), "reason": str(exc)})
        return None


def _mean_temps(
    days: _VillageDays, station: tuple[str, tuple[str, str]] | None
) -> dict[date, float]:
    """The station's daily mean air temperature on its full days (growing degree days)."""
    if station is None:
        return {}
    placed, device = station
    return {
        day: stats.mean
        for day, stats in days.of(placed, device, "air_temperature").items()
        if (stats.hours or 0) >= FULL_DAY_HOURS
    }


def _rain(
    days: _VillageDays, field_id: str, station: tuple[str, tuple[str, str]] | None
) -> dict[date, float]:
    """Daily rain: the mean of the field's own gauges, else the station's gauge."""
    gauges = days.devices(field_id, "rain")
    if not gauges and station is not None:
        placed, device = station
        only = days.of(placed, device, "rain")
        gauges = {device: only} if only else {}
    totals: dict[date, list[float]] = defaultdict(list)
    for per_day in gauges.values():
        for day, stats in per_day.items():
            if stats.sum is not None:
                totals[day].append(stats.sum)
    return {day: sum(values) / len(values) for day, values in totals.items()}


def _moisture(
    days: _VillageDays, field_id: str, calibrations: dict[tuple[str, str], ProbeCalibration]
) -> dict[date, float]:
    """Daily mean soil moisture of the field's probes, each through its own calibration."""
    weighted: dict[date, list[tuple[float, int]]] = defaultdict(list)
    for device, per_day in days.devices(field_id, "soil_moisture").items():
        calibration = calibrations.get(device, ProbeCalibration())
        for day, stats in per_day.items():
            weighted[day].append((calibration.apply(stats.mean), stats.count))
    return {
        day: sum(v * n for v, n in values) / sum(n for _, n in values)
        for day, values in weighted.items()
    }


def _calibrations(session: Session) -> dict[tuple[str, str], ProbeCalibration]:
    rows = session.scalars(
        select(StoredCalibration).where(StoredCalibration.quantity == "soil_moisture")
    )
    found = {}
    for row in rows:
        try:
            found[(row.gateway_id, row.device_id)] = ProbeCalibration(
                offset=row.offset, scale=row.scale
            )
        except CalibrationError as exc:
            # Read as the factory set it rather than through a calibration that cannot be.
            log.warning(
                "probe calibration not usable",
                extra={
                    "gateway_id": row.gateway_id,
                    "device_id": row.device_id,
                    "reason": str(exc),
                },
            )
    return found


def _field_water(
    session: Session,
    field: Field,
    days: _VillageDays,
    today: date,
    latitude: float | None,
    calibrations: dict[tuple[str, str], ProbeCalibration],
) -> FieldWater:
    crop = CROPS.get(field.crop) if field.crop else None
    reason = (
        NoAdvice.NO_CROP
        if not field.crop
        else NoAdvice.UNKNOWN_CROP
        if crop is None
        else NoAdvice.NOT_PLANTED
        if (field.planted_on is None and not crop.perennial)
        or (field.planted_on is not None and field.planted_on > today)
        else None
    )
    try:
        soil = field_soil(field.soil_texture, field.sand_pct, field.clay_pct)
    except (SoilError, UnknownSoilError) as exc:
        log.warning("field soil not usable", extra={"field_id": field.id, "reason": str(exc)})
        return FieldWater(field.id, crop, None, None, reason or NoAdvice.BAD_SOIL)
    if crop is None or reason is not None:
        return FieldWater(field.id, crop, soil, None, reason)
    start = _start(field, crop, today)
    planted = field.planted_on or start
    station = days.station(field.id)
    rain = _rain(days, field.id, station)
    moisture = _moisture(days, field.id, calibrations)
    irrigation = irrigation_mm_by_day(session, field.id, start, today)
    elevation = field.elevation_m or 0.0
    inputs = []
    day = start
    while day <= today:
        complete = day < today
        weather = _weather(days, station, day) if station and complete else None
        inputs.append(
            DayInput(
                day=day,
                et0_mm=_et0(weather, day, latitude, elevation),
                # Without any gauge a day's rain is unknown (counted), not zero.
                rain_mm=rain.get(day, 0.0 if rain else None),
                irrigation_mm=irrigation.get(day, 0.0),
                probe_raw_pct=moisture.get(day),
                water_level_mm=None,
            )
        )
        day += timedelta(days=1)
    try:
        return _balanced(field, crop, soil, planted, inputs, _mean_temps(days, station))
    except (BalanceInputError, BeforePlantingError, GrowingDegreeDaysError) as exc:
        # A page, a summary or the water job must go on for the other fields.
        log.warning("field not balanced", extra={"field_id": field.id, "reason": str(exc)})
        return FieldWater(field.id, crop, soil, None, NoAdvice.INCONSISTENT)


def _balanced(
    field: Field,
    crop: Crop,
    soil: Soil,
    planted: date,
    inputs: list[DayInput],
    temps: dict[date, float],
) -> FieldWater:
    area = field.area_m2
    if crop.ponded:
        mode = PaddyMode.CONTINUOUS if field.water_regime == "flooded" else PaddyMode.AWD
        settings = PaddySettings(mode=mode, mean_temps_c=temps)
        paddy = run_paddy(crop, planted, inputs, settings=settings)
        advice = paddy_advice(crop, planted, paddy, area, settings)
        return FieldWater(field.id, crop, soil, advice, None, paddy=paddy)
    balance_settings = BalanceSettings(mean_temps_c=temps)
    run = run_balance(crop, soil, planted, inputs, settings=balance_settings)
    advice = root_zone_advice(crop, soil, planted, run, area, balance_settings)
    return FieldWater(field.id, crop, soil, advice, None, root_zone=run)


def fields_water(
    session: Session,
    influx: InfluxDB,
    fields: Sequence[Field],
    today: date,
    utc_offset_h: int,
) -> dict[str, FieldWater]:
    """{field id: its water today} (one InfluxDB query per village of ``fields``).

    Raises ``InfluxError`` if InfluxDB fails.
    """
    calibrations = _calibrations(session)
    by_village: dict[str, list[Field]] = defaultdict(list)
    for field in fields:
        by_village[field.village_id].append(field)
    result: dict[str, FieldWater] = {}
    for village_id, placed in by_village.items():
        crops = [(f, CROPS[f.crop]) for f in placed if f.crop in CROPS]
        first = min((_start(f, crop, today) for f, crop in crops), default=today)
        series = village_days(
            influx,
            village_id,
            local_midnight_ms(first, utc_offset_h),
            local_midnight_ms(today + timedelta(days=1), utc_offset_h),
            # A page's one field reads its own probes; a whole village reads them all.
            only_fields=[f.id for f in placed] if len(placed) <= FEW_FIELDS else None,
        )
        days = _VillageDays(series, utc_offset_h)
        # A field without coordinates takes its village's: ET0 barely changes over a village.
        known = [f.latitude for f in placed if f.latitude is not None]
        village_latitude = sum(known) / len(known) if known else None
        for field in placed:
            latitude = field.latitude if field.latitude is not None else village_latitude
            result[field.id] = _field_water(session, field, days, today, latitude, calibrations)
    return result
