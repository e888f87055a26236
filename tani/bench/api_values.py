"""The readings of ``tani bench api``: plausible values of every series for one local day, as
line protocol, and the hourly, daily and field-day rollups of the same values.

Values come from a seeded ``random.Random`` per (day, series) and per (day, village) for rain,
so a day is the same whichever process makes it and whenever: the rollup pass regenerates the
values the load pass wrote. Line protocol is built in big chunks from a per-series prefix (made
once from :func:`storage.schema.reading_line`) and cut into BATCH_LINES-line bodies.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

from storage.field_rollups import SeriesDay, field_day_lines, field_days, progress_lines
from storage.rollups import RAIN_QUANTITY
from storage.schema import DAILY_MEASUREMENT, HOURLY_MEASUREMENT, MEASUREMENT

BATCH_LINES = 5000
SEED = 20261124
FIELDS_PER_VILLAGE = 20
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True, slots=True)
class Profile:
    """How one quantity behaves: mean, daily and seasonal swing, noise, clamp, decimals."""

    key: str
    mean: float
    daily: float
    seasonal: float
    noise: float
    low: float
    high: float
    decimals: int = 1


SOIL = (
    Profile("soil_moisture", 38, 3, 12, 1.5, 5, 65),
    Profile("soil_temperature", 27, 3, 1, 0.3, 18, 40),
    Profile("soil_ec", 900, 60, 200, 40, 50, 4000, 0),
    Profile("soil_ph", 6.1, 0.05, 0.2, 0.05, 4.0, 8.0, 2),
    Profile("soil_nitrogen", 120, 2, 25, 4, 0, 900, 0),
    Profile("soil_phosphorus", 45, 1, 10, 2, 0, 900, 0),
    Profile("soil_potassium", 160, 2, 30, 5, 0, 900, 0),
)
CLIMATE = (
    Profile("air_temperature", 27, 4, 1, 0.4, 18, 38),
    Profile("air_humidity", 80, -12, 6, 2, 35, 100),
    Profile("rain", 0, 0, 0, 0, 0, 150),
)
WEATHER = (
    Profile("air_pressure", 1009, 1.5, 2, 0.3, 990, 1025),
    Profile("wind_speed", 2.2, 1.5, 0.5, 0.6, 0, 20),
    Profile("wind_direction", 180, 40, 60, 35, 0, 359, 0),
    Profile("solar_radiation", 0, 0, 0, 0, 0, 1300, 0),
)
_PROFILES = {p.key: p for p in (*SOIL, *CLIMATE, *WEATHER)}


@dataclass(frozen=True, slots=True)
class Params:
    """What a data set is; a loaded set with equal parameters can be reused."""

    fields: int
    days: int
    interval_min: int
    seed: int = SEED

    @property
    def villages(self) -> int:
        return -(-self.fields // FIELDS_PER_VILLAGE)

    @property
    def points_per_day(self) -> int:
        return 1440 // self.interval_min


@dataclass(frozen=True, slots=True)
class SeriesSpec:
    """One series to generate: its line-protocol prefix, quantity and village number, and the
    tags its field rows need."""

    prefix: str
    quantity: str
    village: int
    index: int
    gateway_id: str
    device_id: str
    field_id: str
    village_id: str


def _diurnal(points_per_day: int) -> list[float]:
    # Days start at local midnight. Peak at 14:00 local, trough at 02:00.
    step = 24 / points_per_day
    return [math.cos(2 * math.pi * (k * step - 14) / 24) for k in range(points_per_day)]


def _sun(points_per_day: int) -> list[float]:
    # Clear-sky shape: 06:00-18:00 local.
    step = 24 / points_per_day
    hours = [k * step for k in range(points_per_day)]
    return [max(0.0, math.sin(math.pi * (h - 6) / 12)) if 6 <= h <= 18 else 0.0 for h in hours]


def _rain(params: Params, village: int, day_ms: int, wet: float) -> list[float]:
    """mm per interval of one village and day: afternoon showers, likelier in the wet season."""
    rng = random.Random(params.seed * 7919 + village * 104_729 + day_ms // DAY_MS)
    rain = [0.0] * params.points_per_day
    if rng.random() < 0.25 + 0.35 * wet:
        start = rng.randrange(params.points_per_day)
        length = max(1, round(rng.uniform(1, 4) * 60 / params.interval_min))
        intensity = rng.uniform(0.5, 6.0) * params.interval_min / 15
        for k in range(start, min(start + length, params.points_per_day)):
            rain[k] = round(intensity * rng.uniform(0.3, 1.0), 1)
    return rain


def day_values(
    params: Params, specs: list[SeriesSpec], day_ms: int
) -> Iterator[tuple[SeriesSpec, list[str], list[float]]]:
    """Every series' readings of one local day: (series, values as written, their floats)."""
    n = params.points_per_day
    day_number = day_ms // DAY_MS
    diurnal, sun = _diurnal(n), _sun(n)
    # Wet season: December-February; 0..1.
    wet = 0.5 + 0.5 * math.cos(2 * math.pi * ((day_number + 10) % 365) / 365)
    rains = {v: _rain(params, v, day_ms, wet) for v in {s.village for s in specs}}
    for spec in specs:
        rng = random.Random(params.seed * 1_000_003 + day_number * 65_537 + spec.index)
        p = _PROFILES[spec.quantity]
        if spec.quantity == "rain":
            values = rains[spec.village]
        elif spec.quantity == "solar_radiation":
            cloud = 1 - 0.4 * wet
            values = [max(0.0, 1000 * cloud * s * rng.uniform(0.6, 1.05)) for s in sun]
        else:
            level = p.mean + p.seasonal * wet + p.noise * rng.gauss(0, 2)
            values = [
                min(p.high, max(p.low, level + p.daily * d + p.noise * rng.gauss(0, 1)))
                for d in diurnal
            ]
        fmt = f"{{:.{p.decimals}f}}"
        texts = [fmt.format(v) for v in values]
        yield spec, texts, [float(t) for t in texts]


def day_lines(params: Params, specs: list[SeriesSpec], day_ms: int) -> Iterator[str]:
    """Line protocol of every reading of one day, in bodies of BATCH_LINES lines (the last
    one shorter)."""
    step_ms = params.interval_min * 60_000
    first_seq = day_ms // DAY_MS * params.points_per_day
    suffixes = [
        f',quality="good",seq={first_seq + k}i {day_ms + k * step_ms}'
        for k in range(params.points_per_day)
    ]
    chunk: list[str] = []
    for spec, texts, _ in day_values(params, specs, day_ms):
        prefix = spec.prefix + "value="
        chunk += [prefix + t + s for t, s in zip(texts, suffixes, strict=True)]
        if len(chunk) >= BATCH_LINES:
            yield from _batches(chunk)
            chunk = chunk[len(chunk) // BATCH_LINES * BATCH_LINES :]
    if chunk:
        yield "\n".join(chunk)


def _rollup_line(
    measurement: str,
    tags: str,
    values: list[float],
    rain: bool,
    time_ms: int,
    hours: int | None = None,
) -> str:
    # As storage.rollups writes them: fields sorted, count and hours integers, the rest floats.
    fields = (
        f"count={len(values)}i{'' if hours is None else f',hours={hours}i'},max={max(values)!r},"
        f"mean={sum(values) / len(values)!r},min={min(values)!r}"
    )
    if rain:
        fields += f",sum={sum(values)!r}"
    return f"{measurement}{tags} {fields} {time_ms}"


def day_rollup_lines(params: Params, specs: list[SeriesSpec], day_ms: int) -> Iterator[str]:
    """``reading_1h``, ``reading_1d`` and ``field_1d`` of one local day from the same values,
    in bodies; then the day's ``field_1d_progress``, as a rollup job run at the day's end
    writes it (the field rows come from ``storage.field_rollups.field_days``, as the job's)."""
    hours: dict[int, list[int]] = {}
    for k in range(params.points_per_day):
        hours.setdefault(k * params.interval_min // 60, []).append(k)
    chunk: list[str] = []
    daily: list[SeriesDay] = []
    for spec, _, values in day_values(params, specs, day_ms):
        tags = spec.prefix[len(MEASUREMENT) : -1]
        rain = spec.quantity == RAIN_QUANTITY
        chunk += [
            _rollup_line(
                HOURLY_MEASUREMENT, tags, [values[k] for k in ks], rain, day_ms + h * HOUR_MS
            )
            for h, ks in hours.items()
        ]
        chunk.append(_rollup_line(DAILY_MEASUREMENT, tags, values, rain, day_ms, len(hours)))
        daily.append(_series_day(spec, day_ms, values, rain, len(hours)))
        if len(chunk) >= BATCH_LINES:
            yield from _batches(chunk)
            chunk = chunk[len(chunk) // BATCH_LINES * BATCH_LINES :]
    chunk += field_day_lines(field_days(daily))
    yield from _batches(chunk)
    chunk = chunk[len(chunk) // BATCH_LINES * BATCH_LINES :]
    # Last, as the job writes it: it vouches for the field rows before it.
    yield "\n".join(chunk + progress_lines([day_ms], day_ms + DAY_MS))


def _series_day(
    spec: SeriesSpec, day_ms: int, values: list[float], rain: bool, hours: int
) -> SeriesDay:
    """The ``reading_1d`` row of ``values`` as the job would read it back (same floats: the
    line protocol carries their repr)."""
    return SeriesDay(
        village_id=spec.village_id,
        field_id=spec.field_id,
        gateway_id=spec.gateway_id,
        device_id=spec.device_id,
        quantity=spec.quantity,
        day_ms=day_ms,
        mean=sum(values) / len(values),
        min=min(values),
        max=max(values),
        count=len(values),
        sum=sum(values) if rain else None,
        hours=hours,
    )


def _batches(chunk: list[str]) -> Iterator[str]:
    for i in range(0, len(chunk) // BATCH_LINES * BATCH_LINES, BATCH_LINES):
        yield "\n".join(chunk[i : i + BATCH_LINES])
