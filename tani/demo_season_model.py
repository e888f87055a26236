"""The demo village's last weeks, as pure functions: the soil under its crops and what its
farmers did, on the weather of ``tani.demo_season_weather``.

Each soil probe reads the mean root-zone moisture of an FAO-56 single-Kc bucket run on the
station's steps with the numbers ``agronomy`` advises with: ET0 from each day's station
statistics (``agronomy.et0``, Penman-Monteith, as ``alerts.field_water`` computes it from the
daily rollups), Kc and root depth from ``agronomy.crops``, Ks from eq. 84, moisture from the
depletion by eq. 87. Water above field capacity drains within hours, so the probe shows each
shower and each recorded irrigation. A paddy (``awd``) has no probe; its farmer irrigates
whenever ``agronomy.paddy`` (IRRI's safe AWD) says it needs water, and those irrigations are its
records. The probe's other quantities follow the moisture (EC), the sun (temperature, three
hours late), the recorded liming (pH) and fertilisers (N, P, K); every value is in the
catalogue's unit, at the 7-in-1 probe's resolution and inside the catalogue's plausible range.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from agronomy.crops import CROPS, Crop, crop_day, p_adjusted
from agronomy.paddy import run_paddy
from agronomy.soils import Soil, soil_from_texture
from agronomy.water_balance import DayInput
from registry.records import RecordKind
from tani.demo_season_weather import (
    Rows,
    SeasonSpec,
    daily_et0_mm,
    diurnal,
    rain_by_day,
    weather,
)

_DRAIN_TAU_H = 10.0  # water above field capacity drains within a day (judgement)
_SATURATION = 0.45  # m3/m3: mineral soils hold about 40-50 % when saturated (judgement)
_BARE_KC = 0.4  # land preparation: bare, often wet soil (FAO-56 Kc ini range, judgement)
_IRRIGATION_HOUR = 7  # farmers irrigate in the morning, over two hours
AWD_NOTE = "AWD: diairi lagi setelah air 15 cm di bawah permukaan / refilled at 15 cm dry"


@dataclass(frozen=True, slots=True)
class Act:
    """Something the farmer did (a field record), ``days_ago`` before today."""

    kind: RecordKind
    days_ago: int
    amount: float | None = None
    product: str | None = None
    note: str | None = None
    entered_by: str = "darto"


@dataclass(frozen=True, slots=True)
class SeasonField:
    """A demo field as the season needs it (the registry row is built from the same data)."""

    field_id: str
    name: str
    crop: str
    soil_texture: str
    area_m2: float
    planted_days_ago: int
    elevation_m: float
    probe: str | None = None  # device id of its 7-in-1 soil probe
    water_regime: str | None = None  # rice: "awd"
    acts: tuple[Act, ...] = ()
    ph: float = 5.2  # acid Ultisol
    npk: tuple[float, float, float] = (85.0, 28.0, 140.0)  # mg/kg before fertiliser

    @property
    def soil(self) -> Soil:
        """FAO-56 Table 19 midpoints of the field's texture."""
        return soil_from_texture(self.soil_texture)


@dataclass(slots=True)
class Season:
    """Readings per device, as (time ms, {quantity: value}), and the farmers' records."""

    readings: dict[str, Rows] = field(default_factory=dict)
    records: list[tuple[str, Act]] = field(default_factory=list)  # (field id, act)

    @property
    def count(self) -> int:
        """Readings in all."""
        return sum(len(values) for rows in self.readings.values() for _, values in rows)


def _irrigation_mm(spec: SeasonSpec, irrigation: dict[date, float], t: int) -> float:
    """Irrigation reaching the soil in (t - step, t]: the day's amount over two morning hours."""
    amount = irrigation.get(spec.local_day(t), 0.0)
    if not amount:
        return 0.0
    hour = spec.local_hour(t) or 24.0
    overlap = min(hour, _IRRIGATION_HOUR + 2) - max(hour - spec.step_s / 3600, _IRRIGATION_HOUR)
    return max(overlap, 0.0) * amount / 2


def _crop_state(crop: Crop, planted_on: date, day: date, et0: float) -> tuple[float, float, float]:
    """(Kc, root depth m, p) of the day; bare soil before an annual crop is planted."""
    if day < planted_on and not crop.perennial:
        return _BARE_KC, crop.root_depth_min_m, crop.p
    cd = crop_day(crop, planted_on, day)
    return cd.kc, cd.root_depth_m, p_adjusted(crop.p, cd.kc * et0)


def soil_moisture(
    spec: SeasonSpec,
    plot: SeasonField,
    rows: Rows,
    et0: dict[date, float],
    irrigation: dict[date, float],
) -> list[float]:
    """Mean root-zone moisture (volumetric %) at each of the station's times (see the module
    docstring): FAO-56 eq. 84-85 on the station's steps, water above FC draining."""
    crop, soil = CROPS[plot.crop], plot.soil
    planted = spec.day_ago(plot.planted_days_ago)
    solar_sum: dict[date, float] = defaultdict(float)
    for t, values in rows:
        solar_sum[spec.local_day(t)] += values["solar_radiation"]
    storage = 0.0  # mm of water above (+) or below (-, the depletion) field capacity
    decay = math.exp(-spec.step_s / 3600 / _DRAIN_TAU_H)
    result = []
    for t, values in rows:
        day = spec.local_day(t)
        kc, zr, p = _crop_state(crop, planted, day, et0[day])
        taw = 1000.0 * (soil.fc - soil.wp) * zr
        depletion = max(-storage, 0.0)  # kept while roots deepen (agronomy.water_balance)
        ks = 1.0 if depletion <= p * taw else max((taw - depletion) / ((1 - p) * taw), 0.0)
        share = values["solar_radiation"] / solar_sum[day] if solar_sum[day] else 0.0
        storage += values["rain"] + _irrigation_mm(spec, irrigation, t)
        storage -= ks * kc * et0[day] * share
        if storage > 0:  # drains to field capacity; beyond saturation it runs off
            storage = min(storage * decay, 1000.0 * (_SATURATION - soil.fc) * zr)
        storage = max(storage, -taw)
        result.append(100.0 * (soil.fc + storage / (1000.0 * zr)))
    return result


def awd_irrigation(
    spec: SeasonSpec, plot: SeasonField, et0: dict[date, float], rain: dict[date, float]
) -> dict[date, float]:
    """The paddy farmer's irrigations: whenever safe AWD (``agronomy.paddy``) says the field
    needs water, they refill it that day. Runs the balance as the advice does: from planting,
    ET0 of complete days, rain 0 on days the gauge has none."""
    crop, planted = CROPS[plot.crop], spec.day_ago(plot.planted_days_ago)
    inputs: list[DayInput] = []
    irrigation: dict[date, float] = {}
    day = planted
    while day <= spec.today:
        inp = DayInput(day, et0.get(day) if day < spec.today else None, rain.get(day, 0.0))
        state = run_paddy(crop, planted, [*inputs, inp]).last
        if state.irrigation_needed and state.refill_mm > 0:
            irrigation[day] = float(math.ceil(state.refill_mm))
            inp = DayInput(inp.day, inp.et0_mm, inp.rain_mm, irrigation_mm=irrigation[day])
        inputs.append(inp)
        day += timedelta(days=1)
    return irrigation


def _fertiliser_boost(spec: SeasonSpec, plot: SeasonField, day: date) -> tuple[float, ...]:
    """mg/kg of N, P, K the probe reads above its base after the recorded fertilisers."""
    boost = [0.0, 0.0, 0.0]
    for act in plot.acts:
        since = (day - spec.day_ago(act.days_ago)).days
        if act.kind is not RecordKind.FERTILISER or since < 0:
            continue
        fade = math.exp(-since / 18.0)  # taken up by the crop and leached (judgement)
        gains = (40.0, 0.0, 0.0) if act.product == "urea" else (22.0, 7.0, 18.0)
        boost = [b + g * fade for b, g in zip(boost, gains, strict=True)]
    return tuple(boost)


def _ph(spec: SeasonSpec, plot: SeasonField, day: date) -> float:
    """The field's pH: 0.4 lower before its recorded liming, rising over a few weeks after."""
    limed = [spec.day_ago(a.days_ago) for a in plot.acts if a.kind is RecordKind.LIME]
    if not limed:
        return plot.ph
    since = (day - limed[0]).days
    return plot.ph - 0.4 * (1.0 if since < 0 else math.exp(-since / 12.0))


def probe(
    spec: SeasonSpec,
    plot: SeasonField,
    rows: Rows,
    moisture: list[float],
) -> Rows:
    """A 7-in-1 probe's readings (seven_in_one resolution) from the field's moisture."""
    rng = random.Random(f"{spec.seed}/probe/{plot.field_id}")
    soil = plot.soil
    fc, wp = soil.fc * 100, soil.wp * 100
    result = []
    for (t, weather_now), theta in zip(rows, moisture, strict=True):
        day = spec.local_day(t)
        dryness = min(max((fc - theta) / (fc - wp), 0.0), 1.0)
        lagged = diurnal((spec.local_hour(t) - 3.0) % 24, -1.0, 1.0)
        soil_t = 27.4 + 1.2 * lagged + 1.0 * dryness - 0.6 * (weather_now["rain"] > 0)
        wet = max(theta, 1.0) / fc
        n, p, k = (
            (base + extra) * (0.85 + 0.15 * wet)
            for base, extra in zip(plot.npk, _fertiliser_boost(spec, plot, day), strict=True)
        )
        result.append(
            (
                t,
                {
                    "soil_moisture": round(theta + rng.gauss(0.0, 0.15), 1),
                    "soil_temperature": round(soil_t + rng.gauss(0.0, 0.1), 1),
                    "soil_ec": float(round(420.0 * wet**1.2 * (1 + 0.02 * (soil_t - 25.0)))),
                    "soil_ph": round(_ph(spec, plot, day) + rng.gauss(0.0, 0.03), 1),
                    "soil_nitrogen": float(round(n + rng.gauss(0.0, 1.0))),
                    "soil_phosphorus": float(round(p + rng.gauss(0.0, 0.5))),
                    "soil_potassium": float(round(k + rng.gauss(0.0, 1.5))),
                },
            )
        )
    return result


def build_season(spec: SeasonSpec, fields: tuple[SeasonField, ...], station: str) -> Season:
    """The whole season: the station ``station``'s readings, each probe's, and the records."""
    rows = weather(spec, spec.times())
    rain = rain_by_day(spec, rows)
    season = Season(readings={station: rows})
    for plot in fields:
        et0 = daily_et0_mm(spec, rows, plot.elevation_m)  # as the advice: at the field's height
        acts = list(plot.acts)
        if plot.water_regime == "awd":
            acts += [
                Act(RecordKind.IRRIGATION, (spec.today - day).days, mm, note=AWD_NOTE)
                for day, mm in awd_irrigation(spec, plot, et0, rain).items()
            ]
        season.records += [(plot.field_id, act) for act in acts]
        if plot.probe is not None:
            irrigation: dict[date, float] = defaultdict(float)
            for act in acts:
                if act.kind is RecordKind.IRRIGATION:
                    irrigation[spec.day_ago(act.days_ago)] += act.amount or 0.0
            moisture = soil_moisture(spec, plot, rows, et0, irrigation)
            season.readings[plot.probe] = probe(spec, plot, rows, moisture)
    return season
