"""The InfluxQL queries the rest of the project uses, in one place.

Every query is a constant with ``$name`` placeholders; values are bound through InfluxDB's
``params``, never pasted into the text.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.influx import InfluxDB
from storage.schema import MEASUREMENT
from telemetry.quantities import QUANTITIES

# Bounded look-back: ``last()`` over all of history would touch every shard.
LATEST_LOOKBACK = "30d"

_LATEST_FOR_FIELD = (
    f'SELECT last("value") AS "value", "quality" FROM "{MEASUREMENT}"'
    f' WHERE "field_id" = $field_id AND time > now() - {LATEST_LOOKBACK}'
    ' GROUP BY "quantity", "device_id"'
)

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


def latest_for_field(influx: InfluxDB, field_id: str) -> list[LatestValue]:
    """Latest value of every quantity measured in a field, sorted by quantity."""
    result = []
    for series in influx.query(_LATEST_FOR_FIELD, {"field_id": field_id}):
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
