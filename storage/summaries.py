"""A village's fields over a week or a month, from the rollups only (fast over any period).

Per field (definitions the office's printed report relies on):

- **rainfall**: millimetres fallen, from the daily rollups' ``sum`` of rain. A field with two
  rain gauges counts the mean of their daily sums, not both; a field without one has none.
- **soil moisture and soil temperature**: mean (weighted by reading count, over every probe of
  the field), minimum and maximum of the readings in the period.
- **dry days**: local days whose mean soil moisture (all probes) was below the field's dry
  threshold (passed in; the API takes it from the crop's alert rules). Days without soil
  moisture readings are not dry days; ``days_with_moisture`` says how many days were judged.
- **completeness**: of the hourly values the field's series (each quantity of each device that
  sent anything in the period) should have given up to now, the share that arrived: a series
  has an hour's value if it sent at least one reading in that hour. Hours, not readings, so
  devices polled every minute and every 15 minutes weigh the same and no reading interval
  needs guessing.
- **uptime**: for each device of the field, the hours in which it sent any reading divided by
  the hours of the period up to now, averaged over the devices (those the registry places
  there and any that sent readings tagged with the field in the period); a placed device that
  sent nothing counts 0.

Readings flagged ``bad`` are not in the rollups, so they count neither for the statistics nor
for completeness: a broken probe's hours are missing hours.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from storage.history import HOUR_MS
from storage.influx import InfluxDB
from storage.rollups import RAIN_QUANTITY
from storage.schema import DAILY_MEASUREMENT
from storage.schema import ROLLUP_RETENTION_POLICY as _RP

SOIL_MOISTURE = "soil_moisture"
SOIL_TEMPERATURE = "soil_temperature"

_WINDOW = "time >= $start_ms * 1000000 AND time < $end_ms * 1000000"
_DAILY = (
    f'SELECT "mean", "min", "max", "count", "sum" FROM "{_RP}"."{DAILY_MEASUREMENT}"'
    f' WHERE "village_id" = $village_id AND {_WINDOW}'
    f" AND (\"quantity\" = '{SOIL_MOISTURE}' OR \"quantity\" = '{SOIL_TEMPERATURE}'"
    f" OR \"quantity\" = '{RAIN_QUANTITY}')"
    ' GROUP BY "field_id", "quantity", "gateway_id", "device_id"'
)


# Hours with data per series (device and quantity): the sum of the daily rollups' ``hours``
# (hourly rows counted when the day was rolled up), 30 rows per series for a month where
# counting the hourly rows themselves read 720 (measured on 1.6: 92 ms for a month of 20
# fields with 10 quantities each). Counting distinct hours across series needs a subquery,
# slower still, hence the definitions above.
_SERIES_HOURS = (
    f'SELECT sum("hours") AS "hours" FROM "{_RP}"."{DAILY_MEASUREMENT}"'
    f' WHERE "village_id" = $village_id AND {_WINDOW}'
    ' GROUP BY "field_id", "gateway_id", "device_id", "quantity"'
)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """What the summary needs to know of a field from the registry."""

    field_id: str
    dry_threshold: float  # soil moisture (%) under which a day's mean makes a dry day
    devices: tuple[tuple[str, str], ...] = ()  # (gateway_id, device_id) placed in the field


@dataclass(frozen=True, slots=True)
class Stats:
    """Mean, minimum and maximum of a quantity's readings over a period."""

    mean: float
    min: float
    max: float
    count: int


@dataclass(frozen=True, slots=True)
class FieldSummary:
    """One field's numbers for the period (None: no data for it)."""

    field_id: str
    rainfall_mm: float | None
    soil_moisture: Stats | None
    soil_temperature: Stats | None
    dry_threshold: float
    dry_days: int
    days_with_moisture: int
    hours_expected: int
    completeness: float | None
    uptime: float | None


# A field's daily rollup rows of one quantity: {day start: one row per device}.
_Days = dict[int, list[dict[str, Any]]]


def expected_hours(start_ms: int, end_ms: int, now_ms: int) -> int:
    """Hours of [start, end) up to now (a started hour counts): what completeness divides by."""
    until = min(end_ms, now_ms)
    return max(0, -(-(until - start_ms) // HOUR_MS))


def village_summary(
    influx: InfluxDB,
    village_id: str,
    start_ms: int,
    end_ms: int,
    fields: Sequence[FieldSpec],
    *,
    now_ms: int,
) -> list[FieldSummary]:
    """Summaries of ``fields`` of a village over [start, end), in the order given.

    ``start_ms`` and ``end_ms`` should be local midnights (daily rollups start there). Two
    InfluxQL queries, whatever the number of fields. Raises ``InfluxError`` if InfluxDB fails.
    """
    params: dict[str, str | int | float] = {
        "village_id": village_id,
        "start_ms": start_ms,
        "end_ms": end_ms,
    }
    daily: dict[tuple[str, str], _Days] = {}
    for series in influx.query(_DAILY, params):
        key = (series.tags.get("field_id", ""), series.tags.get("quantity", ""))
        for row in series.rows():
            if row.get("count"):
                daily.setdefault(key, {}).setdefault(int(row["time"]), []).append(row)
    # {field: {(gateway, device): [hours with data of each of its quantities]}}
    series_hours: dict[str, dict[tuple[str, str], list[int]]] = defaultdict(dict)
    for s in influx.query(_SERIES_HOURS, params):
        device = (s.tags.get("gateway_id", ""), s.tags.get("device_id", ""))
        for row in s.rows():
            field_devices = series_hours[s.tags.get("field_id", "")]
            field_devices.setdefault(device, []).append(int(row["hours"]))
    hours = expected_hours(start_ms, end_ms, now_ms)
    return [_summary(spec, daily, series_hours[spec.field_id], hours) for spec in fields]


def _summary(
    spec: FieldSpec,
    daily: dict[tuple[str, str], _Days],
    device_hours: dict[tuple[str, str], list[int]],
    hours: int,
) -> FieldSummary:
    moisture = daily.get((spec.field_id, SOIL_MOISTURE))
    day_means = _day_means(moisture.values()) if moisture else []
    # A device that answers a poll answers for all its quantities: its best-kept series tells
    # the hours it was up.
    devices = set(spec.devices) | set(device_hours)
    up = [min(max(device_hours.get(d, [0])), hours) for d in devices]
    series = [min(h, hours) for per_device in device_hours.values() for h in per_device]
    return FieldSummary(
        field_id=spec.field_id,
        rainfall_mm=_rainfall(daily.get((spec.field_id, RAIN_QUANTITY))),
        soil_moisture=_stats(moisture),
        soil_temperature=_stats(daily.get((spec.field_id, SOIL_TEMPERATURE))),
        dry_threshold=spec.dry_threshold,
        dry_days=sum(mean < spec.dry_threshold for mean in day_means),
        days_with_moisture=len(day_means),
        hours_expected=hours,
        completeness=sum(series) / (len(series) * hours) if series and hours else None,
        uptime=sum(up) / (len(up) * hours) if up and hours else None,
    )


def _day_means(days: Iterable[list[dict[str, Any]]]) -> list[float]:
    """Each day's mean over all devices, weighted by their reading counts."""
    return [
        sum(float(r["mean"]) * int(r["count"]) for r in rows) / sum(int(r["count"]) for r in rows)
        for rows in days
    ]


def _stats(days: _Days | None) -> Stats | None:
    if days is None:
        return None
    rows = [row for day in days.values() for row in day]
    count = sum(int(r["count"]) for r in rows)
    return Stats(
        mean=sum(float(r["mean"]) * int(r["count"]) for r in rows) / count,
        min=min(float(r["min"]) for r in rows),
        max=max(float(r["max"]) for r in rows),
        count=count,
    )


def _rainfall(days: _Days | None) -> float | None:
    if days is None:
        return None
    total = 0.0
    for rows in days.values():
        sums = [float(r["sum"]) for r in rows if r.get("sum") is not None]
        if sums:
            total += sum(sums) / len(sums)
    return total
