"""The InfluxQL queries the rest of the project uses, in one place.

Every query is a constant with ``$name`` placeholders; values are bound through InfluxDB's
``params``, never pasted into the text.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from storage.influx import InfluxDB
from storage.schema import MEASUREMENT
from telemetry.quantities import QUANTITIES

# A day's look-back answers from the newest shard, which is what almost every request needs;
# a placed device silent longer than that is looked for over LATEST_LOOKBACK, so its last
# value and its age still show. ``last()`` over all of history would touch every shard.
RECENT_LOOKBACK = "1d"
LATEST_LOOKBACK = "30d"


def _latest_query(lookback: str) -> str:
    return (
        f'SELECT last("value") AS "value", "quality" FROM "{MEASUREMENT}"'
        f' WHERE "field_id" = $field_id AND time > now() - {lookback}'
        ' GROUP BY "quantity", "device_id"'
    )


LATEST_RECENT_QUERY = _latest_query(RECENT_LOOKBACK)
LATEST_LONG_QUERY = _latest_query(LATEST_LOOKBACK)

_COUNT_SINCE = (
    f'SELECT count("value") FROM "{MEASUREMENT}"'
    ' WHERE time >= $since_ms * 1000000 AND "gateway_id" = $gateway_id'
)


@dataclass(frozen=True, slots=True)
class LatestValue:
    """The most recent reading of one quantity from one device."""

    quantity: str
    device_id: str
    value: float
    unit: str
    time_ms: int
    quality: str


def latest_for_field(
    influx: InfluxDB, field_id: str, devices: Collection[str] = ()
) -> list[LatestValue]:
    """Latest value of every quantity measured in a field, sorted by quantity.

    ``devices`` are the ids of the devices placed in the field: when one of them (or every
    device) sent nothing within RECENT_LOOKBACK, the look-back is LATEST_LOOKBACK instead.
    """
    values = _latest(influx, LATEST_RECENT_QUERY, field_id)
    if not values or not set(devices) <= {v.device_id for v in values}:
        values = _latest(influx, LATEST_LONG_QUERY, field_id)
    return values


def _latest(influx: InfluxDB, query: str, field_id: str) -> list[LatestValue]:
    result = []
    for series in influx.query(query, {"field_id": field_id}):
        quantity = series.tags["quantity"]
        spec = QUANTITIES.get(quantity)
        for row in series.rows():
            result.append(
                LatestValue(
                    quantity=quantity,
                    device_id=series.tags["device_id"],
                    value=float(row["value"]),
                    unit=spec.unit if spec else "",
                    time_ms=int(row["time"]),
                    quality=row["quality"],
                )
            )
    return sorted(result, key=lambda v: (v.quantity, v.device_id))


def count_readings_since(influx: InfluxDB, gateway_id: str, since_ms: int) -> int:
    """How many readings of a gateway InfluxDB holds from ``since_ms`` on."""
    series = influx.query(_COUNT_SINCE, {"gateway_id": gateway_id, "since_ms": since_ms})
    return sum(int(row["count"]) for s in series for row in s.rows())


# Rule scopes name one of these tags; the tag name is chosen from this table, never from input.
SCOPE_TAGS = {"village": "village_id", "crop": "crop", "field": "field_id"}
_SERIES_TAGS = '"gateway_id", "device_id", "quantity", "field_id", "village_id", "crop"'


def _recent_query(scope: str | None, quantity: bool) -> str:
    where = ["time > $since_ms * 1000000"]
    if quantity:
        where.append('"quantity" = $quantity')
    if scope is not None:
        where.append(f'"{SCOPE_TAGS[scope]}" = $scope_value')
    return (
        f'SELECT "value", "quality" FROM "{MEASUREMENT}" WHERE {" AND ".join(where)}'
        f" GROUP BY {_SERIES_TAGS}"
    )


_RECENT = {
    (scope, quantity): _recent_query(scope, quantity)
    for scope in (None, *SCOPE_TAGS)
    for quantity in (False, True)
}

_LAST_SEEN = (
    f'SELECT last("value") AS "value" FROM "{MEASUREMENT}"'
    ' WHERE time > $since_ms * 1000000 GROUP BY "gateway_id", "device_id"'
)


@dataclass(frozen=True, slots=True)
class Point:
    """One stored reading: time, value and quality."""

    time_ms: int
    value: float
    quality: str


@dataclass(frozen=True, slots=True)
class RecentSeries:
    """The recent readings of one series with the placement tags they were stored with."""

    gateway_id: str
    device_id: str
    quantity: str
    field_id: str | None
    village_id: str | None
    crop: str | None
    points: list[Point]


def recent_readings(
    influx: InfluxDB,
    *,
    since_ms: int,
    quantity: str | None = None,
    scope: str | None = None,
    scope_value: str | None = None,
) -> list[RecentSeries]:
    """Readings newer than ``since_ms``, per series, oldest first; optionally of one quantity
    and inside one village, crop or field (``scope`` is a key of SCOPE_TAGS)."""
    if scope is not None and (scope not in SCOPE_TAGS or scope_value is None):
        raise ValueError(f"unknown scope {scope!r} or no value for it")
    params: dict[str, str | int | float] = {"since_ms": since_ms}
    if quantity is not None:
        params["quantity"] = quantity
    if scope is not None and scope_value is not None:
        params["scope_value"] = scope_value
    result = []
    for series in influx.query(_RECENT[(scope, quantity is not None)], params):
        tags = series.tags
        points = [
            Point(int(row["time"]), float(row["value"]), str(row["quality"]))
            for row in series.rows()
            if row["value"] is not None
        ]
        result.append(
            RecentSeries(
                gateway_id=tags["gateway_id"],
                device_id=tags["device_id"],
                quantity=tags["quantity"],
                field_id=tags.get("field_id") or None,
                village_id=tags.get("village_id") or None,
                crop=tags.get("crop") or None,
                points=sorted(points, key=lambda p: p.time_ms),
            )
        )
    return result


def last_seen(influx: InfluxDB, *, since_ms: int) -> dict[tuple[str, str], int]:
    """{(gateway_id, device_id): time of its newest reading} of devices heard since ``since_ms``."""
    seen = {}
    for series in influx.query(_LAST_SEEN, {"since_ms": since_ms}):
        for row in series.rows():
            seen[(series.tags["gateway_id"], series.tags["device_id"])] = int(row["time"])
    return seen
