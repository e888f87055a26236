"""Hourly and daily rollups of ``reading``: the same numbers from continuous queries or a job.

``reading_1h`` and ``reading_1d`` hold, per series (every tag of ``reading``) and interval, the
``mean``, ``min``, ``max`` and ``count`` of ``value`` and, for rain (millimetres since the
previous reading), their ``sum``. ``reading_1d`` also holds ``hours``: how many of the day's
hours had a reading (the count of its ``reading_1h`` rows), so a month's completeness is read
from 30 daily rows per series instead of 720 hourly ones. Readings flagged ``bad`` (outside
what the sensor can report at all) are left out: one broken-probe value would otherwise own a
month's maximum. Days start at local midnight (``utc_offset_h``; Indonesia has no daylight
saving time).

Who keeps them current:

- on 1.x, continuous queries created by ``InfluxWriter.ensure_database``. A CQ computes an
  interval only around the time it closes (``RESAMPLE FOR`` 2 hours / 2 days here), so readings
  that arrive later than that — a gateway replaying days of outbox after an outage — are missed;
- everywhere (and the only way on 2.x and 3.x, which have no CQs and no ``SELECT ... INTO``):
  :class:`Rollup`, run periodically by ingest. It recomputes recent intervals with the same
  InfluxQL and writes the results back; rewriting a point with the same series and time
  overwrites it, so running it again, or after a CQ, is harmless. Ingest passes the oldest
  reading time it wrote since the previous run as ``since_ms``: that is how a backlog is found.
  Once ``reading_1d`` is rewritten, the job recomputes the same days' field rows (``field_1d``,
  see :mod:`storage.field_rollups`), so late readings reach the village summary too.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from storage.field_rollups import RAIN_QUANTITY, FieldRollup
from storage.influx import InfluxDB, Series
from storage.schema import (
    DAILY_MEASUREMENT,
    HOURLY_MEASUREMENT,
    MEASUREMENT,
    ROLLUP_RETENTION_POLICY,
    _escape_tag,
)

log = logging.getLogger(__name__)

# InfluxQL retention durations we accept: whole hours, days or weeks, or INF (keep forever).
DURATION_PATTERN = r"^(INF|[1-9][0-9]*[hdw])$"
_HOUR_MS = 3_600_000
_DAY_MS = 24 * _HOUR_MS
_WRITE_BATCH = 5000


@dataclass(frozen=True, slots=True)
class StorageLayout:
    """How long raw readings and rollups are kept, and where a day starts."""

    # None leaves the raw data's retention as the server has it: never delete unasked.
    raw_retention: str | None = None
    rollup_retention: str = "INF"
    utc_offset_h: int = 7  # WIB (Sumatra, Java); WITA is 8, WIT 9

    def __post_init__(self) -> None:
        for name in ("raw_retention", "rollup_retention"):
            value = getattr(self, name)
            if value is not None and not re.match(DURATION_PATTERN, value):
                raise ValueError(f"{name} = {value!r}: use INF or a number with h, d or w")
        if not -12 <= self.utc_offset_h <= 14:
            raise ValueError(f"utc_offset_h = {self.utc_offset_h} is not a UTC offset")


@dataclass(frozen=True, slots=True)
class _Grain:
    measurement: str
    step_ms: int
    offset_ms: int  # interval boundaries fall at offset_ms + k * step_ms
    chunk_steps: int  # intervals per query, to bound one answer's size
    cq_for: str

    @property
    def group_by(self) -> str:
        step = f"{self.step_ms // _HOUR_MS}h"
        return f"time({step}, {self.offset_ms // _HOUR_MS}h)" if self.offset_ms else f"time({step})"

    def floor(self, time_ms: int) -> int:
        return time_ms - (time_ms - self.offset_ms) % self.step_ms


def _grains(layout: StorageLayout) -> tuple[_Grain, _Grain]:
    # Local midnight is (24 - offset) hours after UTC midnight; InfluxQL wants a positive offset.
    day_offset_ms = (-layout.utc_offset_h % 24) * _HOUR_MS
    return (
        _Grain(HOURLY_MEASUREMENT, _HOUR_MS, 0, chunk_steps=24, cq_for="2h"),
        _Grain(DAILY_MEASUREMENT, _DAY_MS, day_offset_ms, chunk_steps=7, cq_for="2d"),
    )


_STATS = (
    'mean("value") AS "mean", min("value") AS "min", max("value") AS "max",'
    ' count("value") AS "count"'
)
_RAIN = 'sum("value") AS "sum"'
_HOURS = 'count("count") AS "hours"'
_NOT_BAD = "\"quality\" != 'bad'"
_IS_RAIN = f"\"quantity\" = '{RAIN_QUANTITY}'"
_RAW = f'"{MEASUREMENT}"'
_HOURLY = f'"{ROLLUP_RETENTION_POLICY}"."{HOURLY_MEASUREMENT}"'
# Integer fields (as a CQ writes a count); the statistics are floats even when whole.
_INTEGER_FIELDS = frozenset({"count", "hours"})


@dataclass(frozen=True, slots=True)
class _Aggregation:
    suffix: str  # of the CQ's name
    aggregates: str
    source: str
    condition: str | None


# Statistics of every quantity and the rain sum, from the readings; for days, also the hours
# with readings, from the hourly rollup (computed first: grains run finest first).
_FROM_READINGS = (
    _Aggregation("", _STATS, _RAW, _NOT_BAD),
    _Aggregation("_rain", _RAIN, _RAW, f"{_NOT_BAD} AND {_IS_RAIN}"),
)
_DAY_HOURS = _Aggregation("_hours", _HOURS, _HOURLY, None)
# Rollup fields by (sorted tags, interval start).
_Points = dict[tuple[tuple[tuple[str, str], ...], int], dict[str, float | int]]


def _aggregations(grain: _Grain) -> tuple[_Aggregation, ...]:
    return _FROM_READINGS + ((_DAY_HOURS,) if grain.measurement == DAILY_MEASUREMENT else ())


def _select(aggregation: _Aggregation, window: str | None, group_by: str, into: str = "") -> str:
    conditions = [c for c in (aggregation.condition, window) if c]
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return (
        f"SELECT {aggregation.aggregates}{into} FROM {aggregation.source}{where}"
        f" GROUP BY {group_by}, * fill(none)"
    )


def continuous_queries(database: str, layout: StorageLayout) -> list[tuple[str, str]]:
    """The (name, CREATE statement) of every continuous query that keeps rollups on 1.x.

    The daily ``hours`` CQ may run before the day's last hourly one; ``RESAMPLE FOR 2d``
    recomputes that day a day later, and ingest's :class:`Rollup` job within the hour.
    """
    result = []
    for grain in _grains(layout):
        into = f' INTO "{database}"."{ROLLUP_RETENTION_POLICY}"."{grain.measurement}"'
        for aggregation in _aggregations(grain):
            name = grain.measurement + aggregation.suffix
            body = _select(aggregation, None, grain.group_by, into)
            result.append(
                (
                    name,
                    f'CREATE CONTINUOUS QUERY "{name}" ON "{database}"'
                    f" RESAMPLE FOR {grain.cq_for} BEGIN {body} END",
                )
            )
    return result


@dataclass(frozen=True, slots=True)
class RollupRun:
    """What one :meth:`Rollup.run_once` recomputed."""

    hourly_from_ms: int
    daily_from_ms: int
    until_ms: int
    points_written: int  # hourly, daily and field rows


class Rollup:
    """Recomputes recent hourly and daily rollups from ``reading`` and writes them back, then
    the field rows of the same days (:class:`storage.field_rollups.FieldRollup`).

    Works on every InfluxDB: it only reads with InfluxQL ``SELECT`` and writes line protocol.
    Not thread-safe; run it from one scheduler.
    """

    def __init__(
        self, influx: InfluxDB, layout: StorageLayout, *, lookback_ms: int = 3 * _HOUR_MS
    ) -> None:
        self._influx = influx
        self._grains = _grains(layout)
        self._fields = FieldRollup(influx)
        # Covers the intervals that closed since a previous run, if runs are less than
        # lookback_ms apart (the day that ended at midnight is recomputed in the first hours).
        self._lookback_ms = lookback_ms

    def run_once(self, now_ms: int, since_ms: int | None = None) -> RollupRun:
        """Recompute every interval from ``since_ms`` (or the look-back) up to ``now_ms``.

        The interval still open at ``now_ms`` is written as it stands and completed by a later
        run. Raises ``InfluxUnavailable``/``InfluxRejected`` like any write; a failed run
        leaves earlier rollups as they were and can simply be repeated.
        """
        start_ms = now_ms - self._lookback_ms
        if since_ms is not None:
            start_ms = min(start_ms, since_ms)
        starts = [grain.floor(start_ms) for grain in self._grains]
        written = 0
        for grain, first in zip(self._grains, starts, strict=True):
            for chunk_start in range(first, now_ms, grain.step_ms * grain.chunk_steps):
                chunk_end = min(chunk_start + grain.step_ms * grain.chunk_steps, now_ms)
                lines = list(self._lines(grain, chunk_start, chunk_end))
                for i in range(0, len(lines), _WRITE_BATCH):
                    self._influx.write_lines(
                        lines[i : i + _WRITE_BATCH], retention_policy=ROLLUP_RETENTION_POLICY
                    )
                written += len(lines)
        # After reading_1d: the field rows are made from it.
        written += self._fields.run_once(starts[1], now_ms)
        log.info(
            "rollups recomputed",
            extra={"from_ms": min(starts), "until_ms": now_ms, "points": written},
        )
        return RollupRun(starts[0], starts[1], now_ms, written)

    def _lines(self, grain: _Grain, start_ms: int, end_ms: int) -> Iterator[str]:
        """Line protocol for every series and interval that has readings in [start, end)."""
        window = f"time >= '{_rfc3339(start_ms)}' AND time < '{_rfc3339(end_ms)}'"
        points: _Points = {}
        for aggregation in _aggregations(grain):
            query = _select(aggregation, window, grain.group_by)
            for series in self._influx.query(query):
                _collect(series, points)
        for (tags, time_ms), fields in points.items():
            yield _line(grain.measurement, tags, fields, time_ms)


def _collect(series: Series, points: _Points) -> None:
    # GROUP BY * names every tag key; a series without one has it as "" (not a tag to write).
    tags = tuple(sorted((k, v) for k, v in series.tags.items() if v))
    for row in series.rows():
        fields = {k: v for k, v in row.items() if k != "time" and v is not None}
        if fields:
            points.setdefault((tags, int(row["time"])), {}).update(fields)


def _line(
    measurement: str,
    tags: tuple[tuple[str, str], ...],
    fields: dict[str, float | int],
    time_ms: int,
) -> str:
    tag_text = "".join(f",{_escape_tag(k)}={_escape_tag(v)}" for k, v in tags)
    field_text = ",".join(
        f"{k}={int(v)}i" if k in _INTEGER_FIELDS else f"{k}={float(v)!r}"
        for k, v in sorted(fields.items())
    )
    return f"{measurement}{tag_text} {field_text} {time_ms}"


def _rfc3339(time_ms: int) -> str:
    stamp = datetime.fromtimestamp(time_ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{time_ms % 1000:03d}Z"
