"""The demo village's weather over its last weeks, as pure functions of a seed and the date.

The timeline counts local days back from today (day 0):

* days 0 .. ``dry_spell_days - 1``: a dry spell in the wet season (no rain, clear skies, hotter
  afternoons), after ``_TAPER_DAYS`` days of fewer, lighter showers;
* days ``GAP_DAYS_AGO`` (26-34): an earlier nine-day break in the rains;
* the other days: the wet season, showers most afternoons.

Each day is drawn from the seed and its date (the same date gives the same day, whichever run
asks): Tmin 23-24 degC, Tmax 29.5-33 degC on a half-cosine from dawn to mid-afternoon, humidity
falling from 97 % at dawn to 55-76 % in the afternoon, wind 0.5-3 m/s by day, radiation from
the sun's elevation at the site and the day's cloudiness (at most 950 W/m2), showers as a
tipping-bucket gauge reports them (0.2 mm tips, mm since the previous reading).
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

from agronomy.et0 import DailyInputs, daily_et0

HOUR_MS = 3_600_000
GAP_DAYS_AGO = range(26, 35)  # the earlier break in the rains (days ago)
_TAPER_DAYS = 4  # days of lighter showers before the dry spell
_DAWN_H, _PEAK_H = 6.0, 14.5  # coolest and warmest hours of the day
_W_M2_TO_MJ_DAY = 0.0864  # mean W/m2 over a day -> MJ/m2/day
Rows = list[tuple[int, dict[str, float]]]  # (time ms, {quantity: value}) of one device


@dataclass(frozen=True, slots=True)
class SeasonSpec:
    """Which season: ``days`` local days of readings every ``step_s``, ending before
    ``end_ms``; the last ``dry_spell_days`` of them without rain."""

    end_ms: int
    days: int = 75
    step_s: int = 900
    dry_spell_days: int = 15
    seed: int = 7
    utc_offset_h: int = 7
    latitude_deg: float = -4.5
    longitude_deg: float = 104.5

    def __post_init__(self) -> None:
        if (
            not 1 <= self.days <= 120
            or not 0 <= self.dry_spell_days <= GAP_DAYS_AGO.start - _TAPER_DAYS - 2
        ):
            raise ValueError(
                f"days {self.days} must be 1-120 and dry_spell_days {self.dry_spell_days} "
                f"0-{GAP_DAYS_AGO.start - _TAPER_DAYS - 2}"
            )
        if not 60 <= self.step_s <= 3600 or 86400 % self.step_s:
            raise ValueError(f"step_s {self.step_s} must divide a day, 60-3600 s")

    @property
    def zone(self) -> timezone:
        """The site's time zone."""
        return timezone(timedelta(hours=self.utc_offset_h))

    @property
    def today(self) -> date:
        """The local day of the last reading."""
        return self.local_day(self.end_ms - 1)

    def local_day(self, time_ms: int) -> date:
        """The local calendar day of an epoch-ms time."""
        return datetime.fromtimestamp(time_ms / 1000, tz=UTC).astimezone(self.zone).date()

    def day_ago(self, days: int) -> date:
        """The local day ``days`` before today."""
        return self.today - timedelta(days=days)

    def times(self) -> list[int]:
        """Reading times: every step, on the step grid, over ``days`` local days."""
        step = self.step_s * 1000
        first_day = self.day_ago(self.days - 1)
        start = int(datetime(*first_day.timetuple()[:3], tzinfo=self.zone).timestamp() * 1000)
        return list(range(start, self.end_ms, step))

    def is_dry(self, day: date) -> bool:
        """Whether no rain falls on ``day``."""
        ago = (self.today - day).days
        return ago < self.dry_spell_days or ago in GAP_DAYS_AGO

    def local_hour(self, time_ms: int) -> float:
        """Hours since local midnight."""
        return ((time_ms / HOUR_MS) + self.utc_offset_h) % 24


@dataclass(frozen=True, slots=True)
class DayWeather:
    """What a day's weather is made of; showers are (start hour, hours, mm)."""

    tmin: float
    tmax: float
    rh_min: float
    clear: float  # share of the clear-sky radiation that reaches the ground
    wind: float
    showers: tuple[tuple[float, float, float], ...]


def day_weather(spec: SeasonSpec, day: date) -> DayWeather:
    """The day's weather, drawn from the seed and the date."""
    rng = random.Random(f"{spec.seed}/weather/{day.isoformat()}")
    tmin = rng.uniform(23.0, 24.2)
    if spec.is_dry(day):
        return DayWeather(
            tmin,
            rng.uniform(32.3, 33.0),
            rng.uniform(55.0, 62.0),
            rng.uniform(0.8, 0.92),
            rng.uniform(1.6, 2.2),
            (),
        )
    # The rains taper off over the days before the dry spell: fewer, lighter showers.
    tapering = (spec.today - day).days < spec.dry_spell_days + _TAPER_DAYS
    chance, median_mm = (0.5, 3.0) if tapering else (0.75, 9.0)
    showers: list[tuple[float, float, float]] = []
    if rng.random() < chance:  # convective showers, mostly in the afternoon
        for _ in range(1 + (rng.random() < 0.3)):
            hour = (
                min(21.5, max(12.0, rng.gauss(16.0, 2.0)))
                if rng.random() < 0.8
                else rng.uniform(0.0, 5.0)
            )
            mm = min(60.0, rng.lognormvariate(math.log(median_mm), 0.7))
            showers.append((hour, rng.uniform(0.7, 2.5), mm))
    clear = rng.uniform(0.45, 0.65) if showers else rng.uniform(0.6, 0.8)
    return DayWeather(
        tmin,
        rng.uniform(29.5, 31.5),
        rng.uniform(66.0, 76.0),
        clear,
        rng.uniform(0.9, 1.6),
        tuple(showers),
    )


def diurnal(hour: float, low: float, high: float) -> float:
    """Half-cosine rise from dawn to mid-afternoon, slower fall through the night."""
    if _DAWN_H <= hour < _PEAK_H:
        frac = (hour - _DAWN_H) / (_PEAK_H - _DAWN_H)
        return low + (high - low) * (1 - math.cos(math.pi * frac)) / 2
    frac = ((hour - _PEAK_H) % 24) / (24 - (_PEAK_H - _DAWN_H))
    return high - (high - low) * (1 - math.cos(math.pi * frac)) / 2


def _sin_sun(spec: SeasonSpec, day: date, hour: float) -> float:
    """Sine of the sun's elevation at local (WIB) clock hour ``hour``."""
    lat = math.radians(spec.latitude_deg)
    decl = math.radians(23.44) * math.sin(2 * math.pi * (284 + day.timetuple().tm_yday) / 365)
    solar_h = hour + (spec.longitude_deg - 15.0 * spec.utc_offset_h) / 15.0
    angle = math.radians(15.0 * (solar_h - 12.0))
    return math.sin(lat) * math.sin(decl) + math.cos(lat) * math.cos(decl) * math.cos(angle)


def _shower_mm(w: DayWeather, h0: float, h1: float) -> tuple[float, float]:
    """(mm fallen in local hours [h0, h1) of the day, hours since the last shower ended)."""
    mm, since = 0.0, 99.0
    for start, hours, amount in w.showers:
        overlap = min(h1, start + hours) - max(h0, start)
        mm += max(overlap, 0.0) * amount / hours
        if start < h1:
            since = min(since, max(h1 - (start + hours), 0.0))
    return mm, since


def weather(spec: SeasonSpec, times: list[int]) -> Rows:
    """The station's readings; rain is mm since the previous reading, in 0.2 mm tips."""
    rows = []
    step_h = spec.step_s / 3600
    bucket = 0.0  # rain in the tipping bucket not yet tipped
    days: dict[date, DayWeather] = {}
    for t in times:
        # The reading at t holds what fell in (t - step, t], within one local day.
        day, hour = spec.local_day(t - 1), spec.local_hour(t) or 24.0
        w = days.get(day) or days.setdefault(day, day_weather(spec, day))
        rain, since = _shower_mm(w, hour - step_h, hour)
        air_t = diurnal(hour, w.tmin, w.tmax)
        if since < 6:  # a shower cools the air, which warms back within hours
            cooled = air_t - 3.5 * math.exp(-since / 1.5)
            air_t = max(cooled, min(air_t, 23.5))
        frac = (air_t - w.tmin) / (w.tmax - w.tmin)
        rh = 97.0 - frac * (97.0 - w.rh_min)
        if rain > 0:
            rh = max(rh, 94.0)
        sun = _sin_sun(spec, day, hour)
        solar = 1000.0 * sun**1.15 * w.clear * (0.3 if rain > 0 else 1.0) if sun > 0 else 0.0
        daytime = max(0.0, math.sin(math.pi * (hour - 8.0) / 12.0))
        gust = 0.25 * math.sin(t / 1_700_000.0) + (0.8 if rain > 0 else 0.0)
        bucket += rain
        tips = math.floor(bucket / 0.2 + 1e-9)
        bucket -= tips * 0.2
        rows.append(
            (
                t,
                {
                    "air_temperature": round(air_t, 1),
                    "air_humidity": round(min(98.0, max(60.0, rh)), 1),
                    "air_pressure": round(
                        1010.0 + 1.1 * math.cos(2 * math.pi * (hour - 10) / 12), 1
                    ),
                    "wind_speed": round(min(3.0, max(0.5, 0.6 + w.wind * daytime + gust)), 1),
                    "wind_direction": float(round(270 + 35 * math.sin(t / 5_400_000.0)) % 360),
                    "rain": round(tips * 0.2, 1),
                    "solar_radiation": float(round(min(950.0, solar))),
                },
            )
        )
    return rows


def daily_et0_mm(spec: SeasonSpec, rows: Rows, elevation_m: float) -> dict[date, float]:
    """FAO-56 ET0 of each day from the station's statistics, as the advice computes it."""
    by_day: dict[date, list[dict[str, float]]] = defaultdict(list)
    for t, values in rows:
        by_day[spec.local_day(t)].append(values)
    result = {}
    for day, values in by_day.items():
        temps = [v["air_temperature"] for v in values]
        humid = [v["air_humidity"] for v in values]
        solar = sum(v["solar_radiation"] for v in values) / len(values)
        inputs = DailyInputs(
            day_of_year=day.timetuple().tm_yday,
            latitude_deg=spec.latitude_deg,
            elevation_m=elevation_m,
            tmax_c=max(temps),
            tmin_c=min(temps),
            rh_max=max(humid),
            rh_min=min(humid),
            wind_m_s=sum(v["wind_speed"] for v in values) / len(values),
            rs_mj_m2=solar * _W_M2_TO_MJ_DAY,
        )
        result[day] = daily_et0(inputs).et0_mm
    return result


def rain_by_day(spec: SeasonSpec, rows: Rows) -> dict[date, float]:
    """Millimetres of rain per local day (what the daily rollup's ``sum`` holds)."""
    totals: dict[date, float] = defaultdict(float)
    for t, values in rows:
        totals[spec.local_day(t)] += values["rain"]
    return dict(totals)
