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
makes which day. Days are local (WIB) days.

Rollups of the past: on 1.x continuous queries compute only the intervals closing now, so a
bulk load must bring them up to date itself. The CQs' own ``SELECT ... INTO`` over the past ran
at about 44,000 readings/s on this busy shared machine (27 minutes for a year), so the
benchmark computes ``reading_1h`` and ``reading_1d`` in a second pass over the same generated
values (mean, min, max, count; sum for rain) and writes them as ``storage.rollups`` does, with
each field's day (``field_1d``) from ``storage.field_rollups.field_days``, the function the
rollup job uses, and the day's progress as the job writes it; :func:`check_rollups` compares a
sample with InfluxDB's own aggregates of the raw readings.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
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
from storage.field_rollups import (
    FIELD_MEASUREMENT,
    SELECT_FIELD_COLUMNS,
    SeriesDay,
    field_days,
    field_days_of,
    progress_lines,
)
from storage.influx import InfluxDB
from storage.provision import provision_v1
from storage.rollups import RAIN_QUANTITY, StorageLayout
from storage.schema import (
    DAILY_MEASUREMENT,
    HOURLY_MEASUREMENT,
    PRECISION,
    ROLLUP_RETENTION_POLICY,
    reading_line,
)
from tani.bench.api_values import (
    CLIMATE,
    DAY_MS,
    FIELDS_PER_VILLAGE,
    HOUR_MS,
    SOIL,
    WEATHER,
    Params,
    SeriesSpec,
    day_lines,
    day_rollup_lines,
)
from telemetry.reading import Quality, Reading

DATABASE = "tani_bench"
MARKER = "dataset.json"
WRITERS = 2
_CROPS = ("padi", "jagung", "singkong", "kopi")
_UTC_OFFSET_H = 7  # WIB: the diurnal cycle peaks at 14:00 local time
_LAYOUT = StorageLayout(utc_offset_h=_UTC_OFFSET_H)


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
            specs.append(
                SeriesSpec(
                    line[: line.index("value=")],
                    profile.key,
                    village,
                    len(specs),
                    gateway_id,
                    device_id,
                    placement.field_id,
                    placement.village_id,
                )
            )
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


def _post(http: httpx.Client, query: dict[str, str], body: bytes) -> int:
    """POST one batch; retry what influxd may refuse while it catches up (its cache full: 500,
    a timeout) for up to 5 minutes. How many retries it took."""
    deadline = time.monotonic() + 300
    retries = 0
    while True:
        try:
            response = http.post("/write", params=query, content=body)
            if response.status_code == 204:
                return retries
            problem = f"/write answered {response.status_code}: {response.text[:200]}"
            if response.status_code < 500:
                raise RuntimeError(problem)
        except httpx.TransportError as exc:
            problem = f"/write failed: {exc!r}"
        if time.monotonic() > deadline:
            raise RuntimeError(problem)
        retries += 1
        time.sleep(min(10.0, 0.5 * retries))


def _write_days(
    url: str, params: Params, specs: list[SeriesSpec], days: list[int], rollups: bool
) -> tuple[int, int, int]:
    """One writer process: generate and POST its days' readings (or rollups);
    (lines, requests, retries)."""
    lines = requests = retries = 0
    query = {"db": DATABASE, "precision": PRECISION}
    if rollups:
        query["rp"] = ROLLUP_RETENTION_POLICY
    bodies = day_rollup_lines if rollups else day_lines
    with httpx.Client(base_url=url, timeout=120) as http:
        for day_ms in days:
            for body in bodies(params, specs, day_ms):
                retries += _post(http, query, body.encode())
                lines += body.count("\n") + 1
                requests += 1
    return lines, requests, retries


def _write_all(
    url: str, params: Params, specs: list[SeriesSpec], days: list[int], rollups: bool
) -> tuple[int, int, int]:
    """Every day by WRITERS processes (alternate days); (lines, requests, retries)."""
    with ProcessPoolExecutor(WRITERS, mp_context=get_context("spawn")) as pool:
        parts = [
            pool.submit(_write_days, url, params, specs, days[k::WRITERS], rollups)
            for k in range(WRITERS)
        ]
        results = [part.result() for part in parts]
    return tuple(sum(column) for column in zip(*results, strict=True))  # type: ignore[return-value]


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
    write_retries: int
    load_s: float
    rollup_points: int
    rollup_s: float
    # Daily rollups carry ``hours`` (storage.rollups) and field rows (``field_1d``,
    # storage.field_rollups) exist; a set loaded before they did gets its rollups written again.
    daily_hours: bool = False
    field_days: bool = False

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
        provision_v1(influx, _LAYOUT)
    finally:
        influx.close()
    registry.apply(site(params))
    specs = series_specs(registry.placements())
    # The range ends at the last local midnight, so "latest" is minutes to a day old; days are
    # local (WIB) days, so each day's daily rollup is made from that day's readings alone.
    end_ms = _last_midnight(now_ms)
    start_ms = end_ms - params.days * DAY_MS
    days = list(range(start_ms, end_ms, DAY_MS))
    started = time.monotonic()
    readings, requests, retries = _write_all(url, params, specs, days, rollups=False)
    load_s = time.monotonic() - started
    stored = count_readings(url)
    started = time.monotonic()
    points, _, rollup_retries = _write_all(url, params, specs, days, rollups=True)
    rollup_s = time.monotonic() - started
    _today_progress(url, now_ms)
    return Loaded(
        params=params,
        start_ms=start_ms,
        end_ms=end_ms,
        series=len(specs),
        readings=readings,
        stored=stored,
        requests=requests,
        write_retries=retries + rollup_retries,
        load_s=round(load_s, 3),
        rollup_points=points,
        rollup_s=round(rollup_s, 3),
        daily_hours=True,
        field_days=True,
    )


def _today_progress(url: str, now_ms: int) -> None:
    """Today's ``field_1d_progress``, as a rollup job run now writes it: the set has no reading
    today, so today's field rows (none) are complete up to now."""
    influx = InfluxDB(url, DATABASE)
    try:
        influx.write_lines(
            progress_lines([_last_midnight(now_ms)], now_ms),
            retention_policy=ROLLUP_RETENTION_POLICY,
        )
    finally:
        influx.close()


def _last_midnight(now_ms: int) -> int:
    return now_ms - (now_ms + _UTC_OFFSET_H * HOUR_MS) % DAY_MS


def catch_up(url: str, registry: Registry, loaded: Loaded, now_ms: int) -> tuple[Loaded, int]:
    """Write the days between a reused set's end and the last local midnight, readings and
    rollups, as a live site would have them; (the set as it now is, days added).

    Without it a set loaded weeks ago would have no reading in the last day, and "latest"
    would be measured on sensors that all fell silent. A set loaded before daily rollups had
    ``hours``, or before field rows, gets all its rollups written again first.
    """
    specs = series_specs(registry.placements())
    if not (loaded.daily_hours and loaded.field_days):
        started = time.monotonic()
        days = list(range(loaded.start_ms, loaded.end_ms, DAY_MS))
        _write_all(url, loaded.params, specs, days, rollups=True)
        loaded = replace(
            loaded,
            daily_hours=True,
            field_days=True,
            rollup_s=round(time.monotonic() - started, 3),
        )
    end_ms = _last_midnight(now_ms)
    days = list(range(loaded.end_ms, end_ms, DAY_MS))
    _today_progress(url, now_ms)
    if not days:
        return loaded, 0
    readings, requests, retries = _write_all(url, loaded.params, specs, days, rollups=False)
    points, _, rollup_retries = _write_all(url, loaded.params, specs, days, rollups=True)
    added = count_readings(url, since_ms=loaded.end_ms)
    grown = replace(
        loaded,
        end_ms=end_ms,
        readings=loaded.readings + readings,
        stored=loaded.stored + added,
        requests=loaded.requests + requests,
        write_retries=loaded.write_retries + retries + rollup_retries,
        rollup_points=loaded.rollup_points + points,
    )
    return grown, len(days)


_CHECK = (
    'SELECT mean("value") AS "mean", min("value") AS "min", max("value") AS "max",'
    ' count("value") AS "count", sum("value") AS "sum" FROM "reading" WHERE {where}'
    " GROUP BY time({group}), * fill(none)"
)
_CHECK_ROLLUP = (
    'SELECT "mean", "min", "max", "count", "sum" FROM "rollup"."{measurement}" WHERE {where}'
    " GROUP BY *"
)


def check_rollups(url: str, loaded: Loaded) -> dict[str, Any]:
    """The written rollups of the first field's last day against InfluxDB's own aggregates of
    its readings; its field row against ``field_days`` of those aggregates."""
    field_id, village = field_ids(loaded.params)[0]
    start = loaded.end_ms - DAY_MS
    where = f"\"field_id\" = '{field_id}' AND time >= {start}ms AND time < {loaded.end_ms}ms"
    influx = InfluxDB(url, DATABASE, timeout_s=120)
    compared = 0
    worst = 0.0
    missing = 0
    raw = {}
    try:
        for measurement, group in ((HOURLY_MEASUREMENT, "1h"), (DAILY_MEASUREMENT, "24h, 17h")):
            expected = raw[measurement] = _by_series(
                influx.query(_CHECK.format(where=where, group=group))
            )
            written = _by_series(
                influx.query(_CHECK_ROLLUP.format(measurement=measurement, where=where))
            )
            for key, row in expected.items():
                got = written.get(key)
                if got is None:
                    missing += 1
                    continue
                for name in ("mean", "min", "max", "count"):
                    worst = max(worst, abs(float(row[name]) - float(got[name])))
                if key[0] == RAIN_QUANTITY:
                    worst = max(worst, abs(float(row["sum"]) - float(got["sum"])))
                compared += 1
        field_rows = [
            day
            for s in influx.query(
                f'{SELECT_FIELD_COLUMNS} FROM "rollup"."{FIELD_MEASUREMENT}" WHERE {where}'
            )
            for day in field_days_of(village, field_id, s)
        ]
    finally:
        influx.close()
    expected_days = field_days(_series_days(raw, field_id, village))
    if len(field_rows) != len(expected_days):
        missing += 1
    for got_day, want in zip(field_rows, expected_days, strict=False):
        if got_day.series_hours != want.series_hours or got_day.stats.keys() != want.stats.keys():
            missing += 1
        for quantity, stats in want.stats.items():
            mine = got_day.stats.get(quantity, stats)
            worst = max(
                worst,
                abs(stats.total / stats.count - mine.total / mine.count),
                abs(stats.min - mine.min),
                abs(stats.max - mine.max),
                abs(stats.count - mine.count),
            )
        worst = max(worst, abs((want.rain_mm or 0.0) - (got_day.rain_mm or 0.0)))
        compared += 1
    return {
        "field": field_id,
        "intervals_compared": compared,
        "missing": missing,
        "max_abs_difference": worst,
        "ok": compared > 0 and missing == 0 and worst < 1e-6,
    }


def _series_days(
    raw: dict[str, dict[tuple[str, str, int], dict[str, Any]]], field_id: str, village: str
) -> list[SeriesDay]:
    """The field's ``reading_1d`` rows as InfluxDB's own aggregates of the readings give them."""
    hours = Counter((quantity, device) for quantity, device, _ in raw[HOURLY_MEASUREMENT])
    return [
        SeriesDay(
            village_id=village,
            field_id=field_id,
            gateway_id=f"gw-{village}",
            device_id=device,
            quantity=quantity,
            day_ms=time_ms,
            mean=float(row["mean"]),
            min=float(row["min"]),
            max=float(row["max"]),
            count=int(row["count"]),
            sum=float(row["sum"]) if quantity == RAIN_QUANTITY else None,
            hours=hours[(quantity, device)],
        )
        for (quantity, device, time_ms), row in raw[DAILY_MEASUREMENT].items()
    ]


def _by_series(series: list[Any]) -> dict[tuple[str, str, int], dict[str, Any]]:
    rows = {}
    for s in series:
        for row in s.rows():
            rows[(s.tags.get("quantity", ""), s.tags.get("device_id", ""), int(row["time"]))] = row
    return rows


def count_readings(url: str, since_ms: int = 0) -> int:
    """How many readings the bench database holds (from ``since_ms`` on)."""
    influx = InfluxDB(url, DATABASE, timeout_s=600)
    try:
        series = influx.query(
            'SELECT count("value") FROM "reading" WHERE time >= $since_ms * 1000000',
            {"since_ms": since_ms},
        )
    finally:
        influx.close()
    return sum(int(row["count"]) for s in series for row in s.rows())
