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

The numbers come from the field rows (``field_1d``, :mod:`storage.field_rollups`): a month of a
20-field village is 600 rows in one query. A day whose field rows the rollup job has not
computed since the day ended (the first minutes after midnight, a job that is behind or not
running) is computed from ``reading_1d`` at query time by the same function the job uses, so
the numbers are those of the daily rollups whichever way they are read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from storage.field_rollups import (
    DAY_MS,
    FIELD_MEASUREMENT,
    PROGRESS_MEASUREMENT,
    SELECT_FIELD_COLUMNS,
    SOIL_MOISTURE,
    SOIL_TEMPERATURE,
    FieldDay,
    QuantityDay,
    field_days,
    field_days_of,
    series_days,
)
from storage.history import HOUR_MS
from storage.influx import InfluxDB
from storage.schema import ROLLUP_RETENTION_POLICY as _RP

_WINDOW = "time >= $start_ms * 1000000 AND time < $end_ms * 1000000"
_FIELD_DAYS = (
    f'{SELECT_FIELD_COLUMNS} FROM "{_RP}"."{FIELD_MEASUREMENT}"'
    f' WHERE "village_id" = $village_id AND {_WINDOW} GROUP BY "field_id"'
)
# Every village's: a query of its own (asking for village_id = '' beside the village's rows
# doubled the time of the one above on 1.6).
_PROGRESS = f'SELECT "until_ms" FROM "{_RP}"."{PROGRESS_MEASUREMENT}" WHERE {_WINDOW}'


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

    ``start_ms`` and ``end_ms`` should be local midnights (daily rollups start there). One
    InfluxQL query, whatever the number of fields; a second one over ``reading_1d`` when some
    begun day of the period has no field rows computed after it ended. Raises ``InfluxError``
    if InfluxDB fails.
    """
    days = village_field_days(influx, village_id, start_ms, end_ms, now_ms=now_ms)
    hours = expected_hours(start_ms, end_ms, now_ms)
    return [field_summary(spec, days.get(spec.field_id, []), hours) for spec in fields]


def village_field_days(
    influx: InfluxDB, village_id: str, start_ms: int, end_ms: int, *, now_ms: int
) -> dict[str, list[FieldDay]]:
    """{field id: its days over [start, end)}: the stored field rows where the rollup job
    computed them after the day ended (or the day is today), the others from ``reading_1d``
    now. Raises ``InfluxError`` if InfluxDB fails."""
    params: dict[str, str | int | float] = {
        "village_id": village_id,
        "start_ms": start_ms,
        "end_ms": end_ms,
    }
    by_field = {
        field_id: field_days_of(village_id, field_id, series)
        for series in influx.query(_FIELD_DAYS, params)
        if (field_id := series.tags.get("field_id", ""))
    }
    done = {
        day
        for series in influx.query(_PROGRESS, {"start_ms": start_ms, "end_ms": end_ms})
        for day, until in series.values
        if until is not None and (int(until) >= day + DAY_MS or now_ms < day + DAY_MS)
    }
    todo = {d for d in range(start_ms, min(end_ms, now_ms + 1), DAY_MS) if d not in done}
    if not todo:
        return by_field
    computed: dict[str, list[FieldDay]] = {}
    for day in field_days(series_days(influx, min(todo), max(todo) + DAY_MS, village_id)):
        if day.day_ms in todo:
            computed.setdefault(day.field_id, []).append(day)
    for field_id in by_field.keys() | computed.keys():
        kept = [d for d in by_field.get(field_id, []) if d.day_ms not in todo]
        by_field[field_id] = sorted(kept + computed.get(field_id, []), key=lambda d: d.day_ms)
    return by_field


def field_summary(spec: FieldSpec, days: Sequence[FieldDay], hours: int) -> FieldSummary:
    """One field's numbers from its days of the period, ``hours`` the period's hours up to now
    (:func:`expected_hours`); the definitions are this module's."""
    day_means = [
        day.stats[SOIL_MOISTURE].total / day.stats[SOIL_MOISTURE].count
        for day in days
        if SOIL_MOISTURE in day.stats
    ]
    # Each series' hours over the period, then each device's: a device that answers a poll
    # answers for all its quantities, so its best-kept series tells the hours it was up. Days
    # with the same hours (most of them) are added once.
    series_hours: dict[tuple[str, str, str], int] = {}
    for hours_of_day, n in Counter(day.series_hours for day in days).items():
        for key, h in hours_of_day:
            series_hours[key] = series_hours.get(key, 0) + h * n
    device_hours: dict[tuple[str, str], int] = {}
    for (gateway, device, _), h in series_hours.items():
        device_hours[(gateway, device)] = max(h, device_hours.get((gateway, device), 0))
    up = [min(device_hours.get(d, 0), hours) for d in set(spec.devices) | set(device_hours)]
    series = [min(h, hours) for h in series_hours.values()]
    rain = [day.rain_mm for day in days if day.rain_mm is not None]
    return FieldSummary(
        field_id=spec.field_id,
        rainfall_mm=sum(rain) if rain else None,
        soil_moisture=_stats([d.stats[SOIL_MOISTURE] for d in days if SOIL_MOISTURE in d.stats]),
        soil_temperature=_stats(
            [d.stats[SOIL_TEMPERATURE] for d in days if SOIL_TEMPERATURE in d.stats]
        ),
        dry_threshold=spec.dry_threshold,
        dry_days=sum(mean < spec.dry_threshold for mean in day_means),
        days_with_moisture=len(day_means),
        hours_expected=hours,
        completeness=sum(series) / (len(series) * hours) if series and hours else None,
        uptime=sum(up) / (len(up) * hours) if up and hours else None,
    )


def _stats(days: list[QuantityDay]) -> Stats | None:
    if not days:
        return None
    count = sum(d.count for d in days)
    return Stats(
        mean=sum(d.total for d in days) / count,
        min=min(d.min for d in days),
        max=max(d.max for d in days),
        count=count,
    )
