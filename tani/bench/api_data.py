"""The data set of ``tani bench api``: a registry of villages, fields and people, a year of
plausible readings in InfluxDB, and their rollups.

Layout: ``fields`` fields in villages of 20 (200 fields: 10 villages), one gateway per village.
Every field has a 7-in-1 soil probe (``soil-NN``: 7 quantities) and a small climate node
(``iklim-NN``: air temperature, air humidity, rain), 10 series a field; each village shares one
weather station (``cuaca``: pressure, wind speed and direction, solar radiation), placed on its
first field. 200 fields, one year at 15 minutes: 71.5 million readings.

Readings are generated day by day (every series of a day, then the next day), so each write
touches one shard, by two writer processes taking alternate days; each builds line protocol
text in big chunks from a per-series prefix made once by :func:`storage.schema.reading_line`
(the production schema, not a copy) and POSTs 5,000-line batches to ``/write``. Values come
from a seeded ``random.Random`` per (day, series), so a run is reproducible whichever process
makes which day. Rollups for the whole range come from :class:`storage.rollups.Rollup` (the
job ingest runs), over two halves of the range in two processes.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.orm import Session

from registry.access import issue_token
from registry.directory import UserIn, create_user, get_user
from registry.models import Field
from registry.people import Role
from registry.store import (
    DeviceEntry,
    DevicePlacement,
    FieldEntry,
    GatewayEntry,
    Registry,
    RegistryNotFound,
    SiteFile,
    VillageEntry,
)
from storage.influx import InfluxDB
from storage.provision import provision_v1
from storage.rollups import Rollup, StorageLayout
from storage.schema import PRECISION, reading_line
from telemetry.reading import Quality, Reading

DATABASE = "tani_bench"
MARKER = "dataset.json"
FIELDS_PER_VILLAGE = 20
BATCH_LINES = 5000
WRITERS = 2
SEED = 20261124
_DAY_MS = 86_400_000
_CROPS = ("padi", "jagung", "singkong", "kopi")
_UTC_OFFSET_H = 7  # WIB: the diurnal cycle peaks at 14:00 local time


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
    """One series to generate: its line-protocol prefix, quantity and village number."""

    prefix: str
    quantity: str
    village: int
    index: int


def village_id(v: int) -> str:
    return f"desa-{v + 1:02d}"


def field_ids(params: Params) -> list[tuple[str, str]]:
    """(field id, village id) of every field."""
    return [
        (
            f"lahan-{n // FIELDS_PER_VILLAGE + 1:02d}-{n % FIELDS_PER_VILLAGE + 1:02d}",
            village_id(n // FIELDS_PER_VILLAGE),
        )
        for n in range(params.fields)
    ]


def site(params: Params) -> SiteFile:
    """Villages, fields, one gateway per village and its devices."""
    fields = field_ids(params)
    gateways = []
    for v in range(params.villages):
        mine = [f for f, vid in fields if vid == village_id(v)]
        devices = [DeviceEntry(id="cuaca", kind="weather", field=mine[0])]
        for field_id in mine:
            number = field_id.rsplit("-", 1)[1]
            devices.append(DeviceEntry(id=f"soil-{number}", kind="soil", field=field_id))
            devices.append(DeviceEntry(id=f"iklim-{number}", kind="climate", field=field_id))
        gateways.append(
            GatewayEntry(id=f"gw-{village_id(v)}", name=f"Gateway {v + 1}", devices=devices)
        )
    return SiteFile(
        villages=[
            VillageEntry(id=village_id(v), name=f"Desa {v + 1}") for v in range(params.villages)
        ],
        fields=[
            FieldEntry(id=f, name=f"Lahan {f[6:]}", village=vid, crop=_CROPS[n % len(_CROPS)])
            for n, (f, vid) in enumerate(fields)
        ],
        gateways=gateways,
    )


def series_specs(placements: dict[tuple[str, str], DevicePlacement]) -> list[SeriesSpec]:
    """Every series with its prefix, as ingest would write it (registry tags included)."""
    specs: list[SeriesSpec] = []
    for (gateway_id, device_id), placement in sorted(placements.items()):
        kind = device_id.split("-")[0]
        profiles = {"soil": SOIL, "iklim": CLIMATE, "cuaca": WEATHER}[kind]
        village = int(gateway_id.rsplit("-", 1)[1]) - 1
        for profile in profiles:
            probe = Reading(gateway_id, device_id, profile.key, 0.0, "", 0, Quality.GOOD, 0)
            line = reading_line(probe, placement)
            specs.append(SeriesSpec(line[: line.index("value=")], profile.key, village, len(specs)))
    return specs


@dataclass(frozen=True, slots=True)
class People:
    """Bearer tokens the benchmark's clients use (issued fresh every run)."""

    admin: str
    farmers: dict[str, str]  # field id -> its owner's token
    village_offices: dict[str, str]  # village id -> token


def people(registry: Registry, params: Params, now_ms: int) -> People:
    """An admin, a farmer owning each field, a village-office user per village; tokens."""
    with Session(registry.engine) as session, session.begin():

        def user(data: UserIn) -> Any:
            try:
                return get_user(session, data.username)
            except RegistryNotFound:
                return create_user(session, data, None, now_ms)

        def token(u: Any) -> str:
            return issue_token(session, u, label="bench", now_ms=now_ms, ttl_s=86_400)

        admin = token(user(UserIn(username="bench-admin", full_name="Admin", role=Role.ADMIN)))
        farmers = {}
        for field_id, vid in field_ids(params):
            farmer = user(
                UserIn(
                    username=f"petani-{field_id[6:]}",
                    full_name=f"Petani {field_id[6:]}",
                    role=Role.FARMER,
                    village_id=vid,
                )
            )
            session.get(Field, field_id).owner_id = farmer.id  # type: ignore[union-attr]
            farmers[field_id] = token(farmer)
        offices = {}
        for v in range(params.villages):
            office = user(
                UserIn(
                    username=f"kantor-{village_id(v)}",
                    full_name=f"Kantor {village_id(v)}",
                    role=Role.VILLAGE_OFFICE,
                    village_id=village_id(v),
                )
            )
            offices[village_id(v)] = token(office)
    return People(admin, farmers, offices)


def _diurnal(points_per_day: int) -> list[float]:
    # Peak at 14:00 local, trough at 02:00.
    step = 24 / points_per_day
    return [
        math.cos(2 * math.pi * ((k * step + _UTC_OFFSET_H) % 24 - 14) / 24)
        for k in range(points_per_day)
    ]


def _sun(points_per_day: int) -> list[float]:
    # Clear-sky shape: 06:00-18:00 local.
    step = 24 / points_per_day
    hours = [(k * step + _UTC_OFFSET_H) % 24 for k in range(points_per_day)]
    return [max(0.0, math.sin(math.pi * (h - 6) / 12)) if 6 <= h <= 18 else 0.0 for h in hours]


def _rain(params: Params, village: int, day_ms: int, wet: float) -> list[float]:
    """mm per interval of one village and day: afternoon showers, likelier in the wet season."""
    rng = random.Random(params.seed * 7919 + village * 104_729 + day_ms // _DAY_MS)
    rain = [0.0] * params.points_per_day
    if rng.random() < 0.25 + 0.35 * wet:
        start = rng.randrange(params.points_per_day)
        length = max(1, round(rng.uniform(1, 4) * 60 / params.interval_min))
        intensity = rng.uniform(0.5, 6.0) * params.interval_min / 15
        for k in range(start, min(start + length, params.points_per_day)):
            rain[k] = round(intensity * rng.uniform(0.3, 1.0), 1)
    return rain


def day_lines(params: Params, specs: list[SeriesSpec], day_ms: int) -> Iterator[str]:
    """Line protocol of every series for one day, in chunks of at most BATCH_LINES lines."""
    n = params.points_per_day
    step_ms = params.interval_min * 60_000
    day_number = day_ms // _DAY_MS
    first_seq = day_number * n
    suffixes = [f',quality="good",seq={first_seq + k}i {day_ms + k * step_ms}' for k in range(n)]
    diurnal, sun = _diurnal(n), _sun(n)
    # Wet season: December-February; 0..1.
    wet = 0.5 + 0.5 * math.cos(2 * math.pi * ((day_number + 10) % 365) / 365)
    rains = {v: _rain(params, v, day_ms, wet) for v in {s.village for s in specs}}
    chunk: list[str] = []
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
        prefix = spec.prefix + "value="
        fmt = f"{{:.{p.decimals}f}}"
        chunk += [prefix + fmt.format(v) + s for v, s in zip(values, suffixes, strict=True)]
        if len(chunk) >= BATCH_LINES:
            yield from _batches(chunk)
            chunk = chunk[len(chunk) // BATCH_LINES * BATCH_LINES :]
    if chunk:
        yield "\n".join(chunk)


def _batches(chunk: list[str]) -> Iterator[str]:
    for i in range(0, len(chunk) // BATCH_LINES * BATCH_LINES, BATCH_LINES):
        yield "\n".join(chunk[i : i + BATCH_LINES])


def _write_days(
    url: str, params: Params, specs: list[SeriesSpec], days: list[int]
) -> tuple[int, int]:
    """One writer process: generate and POST its days; (lines, requests)."""
    lines = requests = 0
    with httpx.Client(base_url=url, timeout=120) as http:
        for day_ms in days:
            for body in day_lines(params, specs, day_ms):
                response = http.post(
                    "/write",
                    params={"db": DATABASE, "precision": PRECISION},
                    content=body.encode(),
                )
                if response.status_code != 204:
                    raise RuntimeError(
                        f"/write answered {response.status_code}: {response.text[:200]}"
                    )
                lines += body.count("\n") + 1
                requests += 1
    return lines, requests


def _rollup_range(url: str, since_ms: int, until_ms: int) -> int:
    influx = InfluxDB(url, DATABASE, timeout_s=300)
    try:
        return (
            Rollup(influx, StorageLayout(utc_offset_h=_UTC_OFFSET_H))
            .run_once(until_ms, since_ms)
            .points_written
        )
    finally:
        influx.close()


@dataclass(frozen=True, slots=True)
class Loaded:
    """A loaded data set, as the marker file records it."""

    params: Params
    start_ms: int
    end_ms: int
    series: int
    readings: int
    stored: int
    requests: int
    load_s: float
    rollup_points: int
    rollup_s: float

    def save(self, state_dir: Path) -> None:
        (state_dir / MARKER).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def read(cls, state_dir: Path, params: Params) -> Loaded | None:
        """The marker of a complete load with these parameters, or None."""
        try:
            data = json.loads((state_dir / MARKER).read_text())
            loaded = cls(**{**data, "params": Params(**data["params"])})
        except (OSError, ValueError, TypeError, KeyError):
            return None
        return loaded if loaded.params == params else None


def load(url: str, registry: Registry, params: Params, now_ms: int) -> Loaded:
    """Generate and write every reading, then compute the rollups of the whole range."""
    influx = InfluxDB(url, DATABASE, timeout_s=300)
    try:
        provision_v1(influx, StorageLayout(utc_offset_h=_UTC_OFFSET_H))
    finally:
        influx.close()
    registry.apply(site(params))
    specs = series_specs(registry.placements())
    # The range ends at the last whole day before now, so "latest" is minutes to a day old.
    end_ms = now_ms - now_ms % _DAY_MS
    start_ms = end_ms - params.days * _DAY_MS
    days = list(range(start_ms, end_ms, _DAY_MS))
    started = time.monotonic()
    with ProcessPoolExecutor(WRITERS, mp_context=get_context("spawn")) as pool:
        parts = [
            pool.submit(_write_days, url, params, specs, days[k::WRITERS]) for k in range(WRITERS)
        ]
        results = [part.result() for part in parts]
    load_s = time.monotonic() - started
    readings = sum(lines for lines, _ in results)
    stored = count_readings(url)
    started = time.monotonic()
    # Two halves split at a day boundary, in two processes (the job itself is sequential).
    # at local midnight, so neither writes a partial interval the other completes.
    middle = start_ms + params.days // 2 * _DAY_MS - _UTC_OFFSET_H * 3_600_000
    halves = [(start_ms, middle), (middle, end_ms)] if middle > start_ms else [(start_ms, end_ms)]
    with ProcessPoolExecutor(len(halves), mp_context=get_context("spawn")) as pool:
        points = sum(pool.map(_rollup_range, [url] * len(halves), *zip(*halves, strict=True)))
    rollup_s = time.monotonic() - started
    return Loaded(
        params=params,
        start_ms=start_ms,
        end_ms=end_ms,
        series=len(specs),
        readings=readings,
        stored=stored,
        requests=sum(r for _, r in results),
        load_s=round(load_s, 3),
        rollup_points=points,
        rollup_s=round(rollup_s, 3),
    )


def count_readings(url: str) -> int:
    """How many readings the bench database holds."""
    influx = InfluxDB(url, DATABASE, timeout_s=600)
    try:
        series = influx.query('SELECT count("value") FROM "reading"')
    finally:
        influx.close()
    return sum(int(row["count"]) for s in series for row in s.rows())
