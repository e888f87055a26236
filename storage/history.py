"""History of one quantity in one field, downsampled on the server to at most N points.

A chart on a cheap phone needs a few hundred points whatever the range, so the range decides
where the numbers come from (:func:`plan_history`): the finest step that keeps the answer at
N points or fewer, read from the coarsest store whose interval fits in that step —

- ``raw`` ``reading``, averaged by InfluxDB over steps under an hour (``GROUP BY time``);
- the hourly rollup ``reading_1h`` for steps of 1 to 12 hours;
- the daily rollup ``reading_1d`` for steps of a day or more.

Reading the coarsest store that fits reads the fewest points for the same picture: a 90-day
chart reads 2,160 hourly rows per device instead of 8,640 raw readings. Rollup rows are merged
into steps here (mean weighted by count, so several probes in one field and uneven hours
average correctly). Steps come from a fixed table, so every query is one of a few constants and
only values (field, quantity, times) are bound as parameters. Readings flagged ``bad`` are left
out, as the rollups leave them out.

Raw readings may have expired (``[influx] retention``) while rollups stay: a short range long
ago then has no points. Points are stamped with the start of their step; the raw steps are
short (at most 30 minutes), so a 15-minute reading moves by under one step on a chart.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from storage.influx import InfluxDB, Series
from storage.rollups import RAIN_QUANTITY
from storage.schema import DAILY_MEASUREMENT, HOURLY_MEASUREMENT, MEASUREMENT
from storage.schema import ROLLUP_RETENTION_POLICY as _RP
from telemetry.quantities import quantity as catalogue_quantity

DEFAULT_POINTS = 500
MAX_POINTS = 2000
MIN_POINTS = 10
MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS


class Source(StrEnum):
    """Where a history is read from."""

    RAW = "raw"
    HOURLY = "hourly"
    DAILY = "daily"


# Steps people read easily on a time axis, finest first. Raw steps divide an hour and hourly
# steps divide a day, so steps never straddle an hour or a local midnight. The longest step
# fits two years in MIN_POINTS points.
_STEPS: tuple[tuple[Source, int], ...] = (
    *((Source.RAW, m * MINUTE_MS) for m in (1, 2, 5, 10, 15, 20, 30)),
    *((Source.HOURLY, h * HOUR_MS) for h in (1, 2, 3, 4, 6, 8, 12)),
    *((Source.DAILY, d * DAY_MS) for d in (1, 2, 3, 4, 5, 7, 10, 14, 21, 30, 45, 61, 91, 122)),
)


class RangeError(ValueError):
    """A range or point count the history cannot answer (bilingual message)."""


@dataclass(frozen=True, slots=True)
class HistoryPlan:
    """Which store to read and how long one step (one answered point) is."""

    source: Source
    step_ms: int
    offset_ms: int  # steps start at offset_ms + k * step_ms (local midnight for rollups)

    def bucket(self, time_ms: int) -> int:
        """The start of the step ``time_ms`` falls in."""
        return time_ms - (time_ms - self.offset_ms) % self.step_ms

    def buckets(self, start_ms: int, end_ms: int) -> int:
        """How many steps [start, end) touches: the most points this plan can answer."""
        return (self.bucket(end_ms - 1) - self.bucket(start_ms)) // self.step_ms + 1


def local_midnight_offset_ms(utc_offset_h: int) -> int:
    """Where local days start, as an offset from UTC midnight (what rollups use)."""
    return (-utc_offset_h % 24) * HOUR_MS


def plan_history(start_ms: int, end_ms: int, points: int, utc_offset_h: int = 7) -> HistoryPlan:
    """The finest step from the table whose steps over [start, end) number at most ``points``.

    Raw steps align to the epoch, as InfluxDB's ``GROUP BY time`` does; rollup steps align to
    local midnight, as the daily rollup does.
    """
    if end_ms <= start_ms:
        raise RangeError("Akhir harus setelah awal / end must be after start")
    if not MIN_POINTS <= points <= MAX_POINTS:
        raise RangeError(
            f"Jumlah titik {MIN_POINTS}-{MAX_POINTS} / points must be {MIN_POINTS}-{MAX_POINTS}"
        )
    day_offset = local_midnight_offset_ms(utc_offset_h)
    for source, step_ms in _STEPS:
        offset = 0 if source is Source.RAW else day_offset % step_ms
        plan = HistoryPlan(source, step_ms, offset)
        if plan.buckets(start_ms, end_ms) <= points:
            return plan
    raise RangeError("Rentang waktu terlalu panjang / range too long for that many points")


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    """One step of a history: statistics of the readings in [time, time + step)."""

    time_ms: int
    mean: float
    min: float
    max: float
    count: int
    sum: float | None  # rain only: millimetres fallen in the step


@dataclass(frozen=True, slots=True)
class History:
    """A downsampled history and how it was made."""

    field_id: str
    quantity: str
    unit: str
    start_ms: int
    end_ms: int
    plan: HistoryPlan
    points: list[HistoryPoint]


_WINDOW = "time >= $start_ms * 1000000 AND time < $end_ms * 1000000"
_WHERE = f'"field_id" = $field_id AND "quantity" = $quantity AND {_WINDOW}'
_AGGREGATES = (
    'mean("value") AS "mean", min("value") AS "min", max("value") AS "max",'
    ' count("value") AS "count", sum("value") AS "sum"'
)
# One constant per raw step: a GROUP BY interval cannot be a bound parameter.
_RAW_QUERIES = {
    step_ms: f'SELECT {_AGGREGATES} FROM "{MEASUREMENT}" WHERE {_WHERE}'
    f" AND \"quality\" != 'bad' GROUP BY time({step_ms // MINUTE_MS}m) fill(none)"
    for source, step_ms in _STEPS
    if source is Source.RAW
}
# Every device's rows come back merged in one series; steps are formed in Python.
_ROLLUP_QUERIES = {
    source: f'SELECT "mean", "min", "max", "count", "sum" FROM "{_RP}"."{measurement}"'
    f" WHERE {_WHERE}"
    for source, measurement in (
        (Source.HOURLY, HOURLY_MEASUREMENT),
        (Source.DAILY, DAILY_MEASUREMENT),
    )
}


def field_history(
    influx: InfluxDB,
    field_id: str,
    quantity: str,
    start_ms: int,
    end_ms: int,
    *,
    points: int = DEFAULT_POINTS,
    utc_offset_h: int = 7,
) -> History:
    """The history of ``quantity`` in ``field_id`` over [start, end), at most ``points`` points.

    Raises ``UnknownQuantityError`` for a quantity not in the catalogue, :class:`RangeError`
    for an empty range or a point count out of bounds, ``InfluxError`` when InfluxDB fails.
    """
    unit = catalogue_quantity(quantity).unit
    plan = plan_history(start_ms, end_ms, points, utc_offset_h)
    params: dict[str, str | int | float] = {"field_id": field_id, "quantity": quantity}
    if plan.source is Source.RAW:
        params |= {"start_ms": start_ms, "end_ms": end_ms}
        series = influx.query(_RAW_QUERIES[plan.step_ms], params)
        result = _raw_points(series, with_sum=quantity == RAIN_QUANTITY)
    else:
        # A rollup interval that overlaps the range counts whole; widening the start to the
        # interval's start adds no step, as steps are whole intervals.
        grain = HOUR_MS if plan.source is Source.HOURLY else DAY_MS
        first = start_ms - (start_ms - plan.offset_ms) % grain
        params |= {"start_ms": first, "end_ms": end_ms}
        rows = [row for s in influx.query(_ROLLUP_QUERIES[plan.source], params) for row in s.rows()]
        result = merge_rollup_rows(rows, plan)
    return History(field_id, quantity, unit, start_ms, end_ms, plan, result)


def _raw_points(series: list[Series], *, with_sum: bool) -> list[HistoryPoint]:
    # A sum of soil moisture means nothing: only rain's is answered, as only rain's is rolled up.
    return [
        HistoryPoint(
            time_ms=int(row["time"]),
            mean=float(row["mean"]),
            min=float(row["min"]),
            max=float(row["max"]),
            count=int(row["count"]),
            sum=float(row["sum"]) if with_sum else None,
        )
        for s in series
        for row in s.rows()
        if row["count"]
    ]


def merge_rollup_rows(rows: list[dict[str, Any]], plan: HistoryPlan) -> list[HistoryPoint]:
    """Rollup rows (``time``, ``mean``, ``min``, ``max``, ``count``, ``sum``) of any devices
    combined into the plan's steps, oldest first; the mean is weighted by count."""
    steps: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        if row.get("count"):
            steps.setdefault(plan.bucket(int(row["time"])), []).append(row)
    result = []
    for time_ms in sorted(steps):
        group = steps[time_ms]
        count = sum(int(r["count"]) for r in group)
        sums = [float(r["sum"]) for r in group if r.get("sum") is not None]
        result.append(
            HistoryPoint(
                time_ms=time_ms,
                mean=sum(float(r["mean"]) * int(r["count"]) for r in group) / count,
                min=min(float(r["min"]) for r in group),
                max=max(float(r["max"]) for r in group),
                count=count,
                sum=sum(sums) if sums else None,
            )
        )
    return result
