"""Each field's day, precomputed for the village summary: ``field_1d`` and ``field_1d_progress``.

``field_1d`` (retention policy ``rollup``; tags ``village_id``, ``field_id``; time: local
midnight, like ``reading_1d``) holds one point per field and local day, made by
:func:`field_days` from that day's ``reading_1d`` rows of the field's series:

- ``rain_mm``: the mean of the daily sums of the field's rain gauges (a field without a gauge
  that day has none);
- ``soil_moisture_sum`` (of the readings' values: each series' mean x count),
  ``soil_moisture_count`` (integer), ``soil_moisture_min``, ``soil_moisture_max``, and the same
  four for ``soil_temperature``: a period's count-weighted mean is its sums over its counts, a
  day's mean (what dry days are judged by) the day's sum over its count;
- ``series_hours``: the hours of the day with a reading, per series (a device's quantity), as
  text: ``gateway/device/hours=quantity,quantity`` per device and number of hours,
  space-separated (ids and quantity keys never hold ``/``, ``=``, ``,`` or spaces). Completeness
  and uptime clamp and count each series over the whole period, which per-day totals cannot
  give; a device's quantities nearly always share their hours, and a field's text repeats from
  day to day, so it is short and read once per period.

A month of a 20-field village is 600 points, read in one query, where the per-series rows were
~6,000 in two.

``field_1d_progress`` (no tags; time: local midnight; integer field ``until_ms``) says when the
rollup job last computed that day's field rows, for every field at once. A summary trusts a
day's field rows only when this says they were computed after the day ended (or the day is still
running); any other day it computes at query time from ``reading_1d``, with the same
:func:`field_days`. So field rows are never staler than ``reading_1d`` itself.

Who keeps them current: :class:`FieldRollup`, called by :class:`storage.rollups.Rollup` after
it has rewritten ``reading_1d`` for the days it recomputed, every ``rollup_every_s`` of ingest
(15 minutes by default). Late readings come in the way they reach ``reading_1d``: ingest
passes the oldest time it wrote as ``since_ms``, the job recomputes those days' rollups, then
their field rows. Continuous queries cannot do this on 1.x: a CQ reading another CQ's output may
run before that output is written. On 1.x the daily CQs write ``reading_1d`` only at local
midnight (for the two days before), and the job recomputes those days within
``rollup_every_s`` (its look-back covers the day that just ended): until then, the summary reads
them from ``reading_1d``, as above.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

from storage.influx import InfluxDB, Series
from storage.schema import DAILY_MEASUREMENT, ROLLUP_RETENTION_POLICY, _escape_tag

log = logging.getLogger(__name__)

FIELD_MEASUREMENT = "field_1d"
PROGRESS_MEASUREMENT = "field_1d_progress"
RAIN_QUANTITY = "rain"
SOIL_MOISTURE = "soil_moisture"
SOIL_TEMPERATURE = "soil_temperature"
STAT_QUANTITIES = (SOIL_MOISTURE, SOIL_TEMPERATURE)
DAY_MS = 24 * 3_600_000
_CHUNK_DAYS = 7  # days per query, as the daily rollups are recomputed
_WRITE_BATCH = 5000

# (gateway_id, device_id, quantity)
SeriesId = tuple[str, str, str]
# ((series, hours with a reading), ...), sorted by series: equal days compare (and hash) equal.
SeriesHours = tuple[tuple[SeriesId, int], ...]


@dataclass(frozen=True, slots=True)
class SeriesDay:
    """One ``reading_1d`` row: a series' local day (None where the row has no such field)."""

    village_id: str
    field_id: str
    gateway_id: str
    device_id: str
    quantity: str
    day_ms: int
    mean: float | None
    min: float | None
    max: float | None
    count: int | None
    sum: float | None
    hours: int | None


# Named tuples, not frozen dataclasses: a summary of a month makes 1,800 of these, and a frozen
# dataclass's __init__ took a third of an uncached summary's time (py-spy).
class QuantityDay(NamedTuple):
    """One quantity over a field's series on one day."""

    total: float  # the sum of the readings' values
    count: int
    min: float
    max: float


class FieldDay(NamedTuple):
    """One field's local day: a ``field_1d`` point."""

    village_id: str
    field_id: str
    day_ms: int
    rain_mm: float | None
    stats: dict[str, QuantityDay]  # by quantity (STAT_QUANTITIES), those with readings
    series_hours: SeriesHours


def field_days(rows: Iterable[SeriesDay]) -> list[FieldDay]:
    """The field days of ``reading_1d`` rows (rows without a field are left out).

    The one place that turns per-series days into field days: the rollup job, the summary's
    query-time days and ``tani bench api`` all call it.
    """
    grouped: dict[tuple[str, str, int], list[SeriesDay]] = {}
    for row in rows:
        if row.field_id and row.village_id:
            grouped.setdefault((row.village_id, row.field_id, row.day_ms), []).append(row)
    days = []
    for (village_id, field_id, day_ms), found in sorted(grouped.items()):
        # One order whatever the source, so every path adds the same floats the same way.
        found.sort(key=lambda r: (r.gateway_id, r.device_id, r.quantity))
        day = _field_day(village_id, field_id, day_ms, found)
        if day is not None:
            days.append(day)
    return days


def _field_day(
    village_id: str, field_id: str, day_ms: int, rows: list[SeriesDay]
) -> FieldDay | None:
    stats = {}
    for quantity in STAT_QUANTITIES:
        counted = [r for r in rows if r.quantity == quantity and r.count]
        if counted:
            stats[quantity] = QuantityDay(
                total=sum(_number(r.mean) * _count(r.count) for r in counted),
                count=sum(_count(r.count) for r in counted),
                min=min(_number(r.min) for r in counted),
                max=max(_number(r.max) for r in counted),
            )
    gauges = [r for r in rows if r.quantity == RAIN_QUANTITY and r.count]
    sums = [r.sum for r in gauges if r.sum is not None]
    # A gauge day without a sum adds nothing, but the field still had a gauge (0, not None).
    rain = (sum(sums) / len(sums) if sums else 0.0) if gauges else None
    hours: dict[SeriesId, int] = {}
    for r in rows:
        if r.hours is not None:
            key = (r.gateway_id, r.device_id, r.quantity)
            hours[key] = hours.get(key, 0) + r.hours
    if not stats and rain is None and not hours:
        return None
    return FieldDay(village_id, field_id, day_ms, rain, stats, tuple(sorted(hours.items())))


def _number(value: float | None) -> float:
    if value is None:
        raise ValueError("a reading_1d row with a count has no mean, min or max")
    return value


def _count(value: int | None) -> int:
    return int(value or 0)


def field_day_lines(days: Iterable[FieldDay]) -> list[str]:
    """Line protocol of ``days`` (``field_1d``)."""
    lines = []
    for day in days:
        fields: dict[str, str] = {}
        if day.rain_mm is not None:
            fields["rain_mm"] = repr(float(day.rain_mm))
        for quantity, stats in day.stats.items():
            fields[f"{quantity}_sum"] = repr(float(stats.total))
            fields[f"{quantity}_count"] = f"{stats.count}i"
            fields[f"{quantity}_min"] = repr(float(stats.min))
            fields[f"{quantity}_max"] = repr(float(stats.max))
        if day.series_hours:
            fields["series_hours"] = f'"{_hours_text(day.series_hours)}"'
        tags = f",field_id={_escape_tag(day.field_id)},village_id={_escape_tag(day.village_id)}"
        text = ",".join(f"{k}={v}" for k, v in sorted(fields.items()))
        lines.append(f"{FIELD_MEASUREMENT}{tags} {text} {day.day_ms}")
    return lines


def progress_lines(day_starts: Iterable[int], until_ms: int) -> list[str]:
    """``field_1d_progress`` of days whose field rows were computed at ``until_ms``."""
    return [f"{PROGRESS_MEASUREMENT} until_ms={until_ms}i {day}" for day in day_starts]


def _hours_text(hours: SeriesHours) -> str:
    quantities: dict[tuple[str, str, int], list[str]] = {}
    for (gateway, device, quantity), h in hours:
        quantities.setdefault((gateway, device, h), []).append(quantity)
    return " ".join(f"{g}/{d}/{h}={','.join(qs)}" for (g, d, h), qs in sorted(quantities.items()))


# A field's text is the same most days: each distinct one is parsed once.
@lru_cache(maxsize=65_536)
def _hours_of(text: str | None) -> SeriesHours:
    hours = []
    for token in (text or "").split():
        key, _, quantities = token.partition("=")
        gateway, device, h = key.split("/")
        hours += [((gateway, device, quantity), int(h)) for quantity in quantities.split(",")]
    return tuple(sorted(hours))


# What the summary reads of a field row (``SELECT *`` would add the village tag to every row).
FIELD_COLUMNS = (
    "rain_mm",
    *(f"{q}_{k}" for q in STAT_QUANTITIES for k in ("sum", "count", "min", "max")),
    "series_hours",
)
SELECT_FIELD_COLUMNS = "SELECT " + ", ".join(f'"{c}"' for c in FIELD_COLUMNS)


def field_days_of(village_id: str, field_id: str, series: Series) -> list[FieldDay]:
    """The ``field_1d`` rows of one field as read back (``FIELD_COLUMNS``, times in epoch ms)."""
    at = {name: n for n, name in enumerate(series.columns)}
    stat_columns = [
        (q, at[f"{q}_sum"], at[f"{q}_count"], at[f"{q}_min"], at[f"{q}_max"])
        for q in STAT_QUANTITIES
        if f"{q}_count" in at
    ]
    rain, hours, time = at.get("rain_mm"), at.get("series_hours"), at["time"]
    days = []
    for row in series.values:
        stats = {
            q: QuantityDay(float(row[total]), int(row[count]), float(row[low]), float(row[high]))
            for q, total, count, low, high in stat_columns
            if row[count]
        }
        days.append(
            FieldDay(
                village_id,
                field_id,
                int(row[time]),
                None if rain is None or row[rain] is None else float(row[rain]),
                stats,
                _hours_of(None if hours is None else row[hours]),
            )
        )
    return days


_SERIES_TAGS = ("village_id", "field_id", "gateway_id", "device_id", "quantity")
_SERIES_DAYS = (
    'SELECT "mean", "min", "max", "count", "sum", "hours"'
    f' FROM "{ROLLUP_RETENTION_POLICY}"."{DAILY_MEASUREMENT}"'
    " WHERE {where}time >= $start_ms * 1000000 AND time < $end_ms * 1000000"
    # Not by crop: a field whose crop changed keeps its series (the summary always read them so).
    ' GROUP BY "village_id", "field_id", "gateway_id", "device_id", "quantity"'
)


def series_days(
    influx: InfluxDB, start_ms: int, end_ms: int, village_id: str | None = None
) -> list[SeriesDay]:
    """``reading_1d`` rows over [start, end) of placed series (of one village, if given).
    Raises ``InfluxError`` if InfluxDB fails."""
    params: dict[str, str | int | float] = {"start_ms": start_ms, "end_ms": end_ms}
    if village_id is None:
        where = "\"field_id\" != '' AND "
    else:
        where = '"village_id" = $village_id AND '
        params["village_id"] = village_id
    return list(_series_days(influx.query(_SERIES_DAYS.format(where=where), params)))


def _series_days(found: Sequence[Series]) -> Iterator[SeriesDay]:
    for series in found:
        tags = [series.tags.get(tag, "") for tag in _SERIES_TAGS]
        for row in series.rows():
            yield SeriesDay(
                *tags,
                day_ms=int(row["time"]),
                mean=_optional(row.get("mean")),
                min=_optional(row.get("min")),
                max=_optional(row.get("max")),
                count=None if row.get("count") is None else int(row["count"]),
                sum=_optional(row.get("sum")),
                hours=None if row.get("hours") is None else int(row["hours"]),
            )


def _optional(value: Any) -> float | None:
    return None if value is None else float(value)


class FieldRollup:
    """Recomputes ``field_1d`` from ``reading_1d`` for recent days; the first run of a process
    also fills the days before the oldest ``field_1d_progress`` (a site that had rollups before
    it had field rows gets them all once, newest first).

    Not thread-safe; :class:`storage.rollups.Rollup` runs it from its one scheduler.
    """

    def __init__(self, influx: InfluxDB) -> None:
        self._influx = influx
        self._history_checked = False

    def run_once(self, first_day_ms: int, now_ms: int) -> int:
        """Field rows of every local day from ``first_day_ms`` (a local midnight) up to
        ``now_ms``, then their progress; points written. Raises ``InfluxError``; a failed run
        can simply be repeated."""
        written = self._roll(first_day_ms, now_ms, now_ms)
        if not self._history_checked:
            history = self._history()
            if history is not None:
                log.info("field rows of earlier days being computed", extra=dict(history))
                written += self._roll(history["from_ms"], history["until_ms"], now_ms)
            self._history_checked = True
        return written

    def _history(self) -> dict[str, int] | None:
        """The days with daily rollups before the oldest field-row progress, if any."""
        first_daily = self._first(
            f'SELECT first("count") FROM "{ROLLUP_RETENTION_POLICY}"."{DAILY_MEASUREMENT}"'
        )
        first_progress = self._first(
            f'SELECT first("until_ms") FROM "{ROLLUP_RETENTION_POLICY}"."{PROGRESS_MEASUREMENT}"'
        )
        if first_daily is None or first_progress is None or first_daily >= first_progress:
            return None
        return {"from_ms": first_daily, "until_ms": first_progress}

    def _first(self, query: str) -> int | None:
        times = [int(row["time"]) for s in self._influx.query(query) for row in s.rows()]
        return min(times, default=None)

    def _roll(self, from_ms: int, until_ms: int, now_ms: int) -> int:
        written = 0
        step = _CHUNK_DAYS * DAY_MS
        # Newest first: an interrupted fill leaves its gap before the oldest progress, where
        # the next process's first run looks.
        for start in reversed(range(from_ms, until_ms, step)):
            end = min(start + step, until_ms)
            lines = field_day_lines(field_days(series_days(self._influx, start, end)))
            # Progress last: it vouches for the rows written before it.
            lines += progress_lines(range(start, end, DAY_MS), now_ms)
            for i in range(0, len(lines), _WRITE_BATCH):
                self._influx.write_lines(
                    lines[i : i + _WRITE_BATCH], retention_policy=ROLLUP_RETENTION_POLICY
                )
            written += len(lines)
        return written
