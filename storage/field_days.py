"""A village's days from the daily rollups: what a crop water balance reads (weather, rain and
soil moisture per device and local day), in one query over a season.

The rollups leave out readings flagged ``bad``, so a broken sensor's days are missing days, not
wrong ones. Days start at local midnight (``reading_1d``'s time).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from storage.influx import InfluxDB
from storage.schema import DAILY_MEASUREMENT
from storage.schema import ROLLUP_RETENTION_POLICY as _RP
from telemetry.quantities import QUANTITIES

# What a crop water balance uses: FAO-56 ET0 from the station's temperature, humidity, wind
# and radiation; rain from the gauge; the probe's soil moisture.
BALANCE_QUANTITIES = (
    "air_temperature",
    "air_humidity",
    "wind_speed",
    "solar_radiation",
    "rain",
    "soil_moisture",
)


# Quantities measured in a field for that field alone; the others (the weather) serve every
# field of the village.
FIELD_QUANTITIES = frozenset({"soil_moisture"})


def _query(quantities: Iterable[str], n_fields: int | None) -> str:
    # Quantity names come from the catalogue (checked), never from a request: safe to inline.
    # Field ids are bound parameters ($f0, $f1, ...).
    names = sorted(set(quantities))
    unknown = [name for name in names if name not in QUANTITIES]
    if unknown or not names:
        raise ValueError(f"not catalogue quantities: {unknown or 'none given'}")
    shared = [name for name in names if n_fields is None or name not in FIELD_QUANTITIES]
    own = [name for name in names if n_fields is not None and name in FIELD_QUANTITIES]
    terms = [f"\"quantity\" = '{name}'" for name in shared]
    if own and n_fields:
        fields = " OR ".join(f'"field_id" = $f{n}' for n in range(n_fields))
        kinds = " OR ".join(f"\"quantity\" = '{name}'" for name in own)
        terms.append(f"(({kinds}) AND ({fields}))")
    if not terms:
        raise ValueError("no quantity left to read: give a field for the field quantities")
    wanted = " OR ".join(terms)
    return (
        f'SELECT "mean", "min", "max", "count", "sum", "hours" FROM "{_RP}"."{DAILY_MEASUREMENT}"'
        ' WHERE "village_id" = $village_id'
        " AND time >= $start_ms * 1000000 AND time < $end_ms * 1000000"
        f" AND ({wanted})"
        ' GROUP BY "field_id", "gateway_id", "device_id", "quantity"'
    )


@dataclass(frozen=True, slots=True)
class DayStats:
    """One series' day: statistics of its good and suspect readings."""

    mean: float
    min: float
    max: float
    count: int
    sum: float | None  # rain only: millimetres fallen that day
    hours: int | None  # hours of the day with a reading (None: the day is still being rolled up)


@dataclass(frozen=True, slots=True)
class SeriesKey:
    """Which series: a device's quantity, and the field it was placed in (may be empty)."""

    field_id: str
    gateway_id: str
    device_id: str
    quantity: str


def village_days(
    influx: InfluxDB,
    village_id: str,
    start_ms: int,
    end_ms: int,
    quantities: Iterable[str] = BALANCE_QUANTITIES,
    *,
    only_fields: Sequence[str] | None = None,
) -> dict[SeriesKey, dict[int, DayStats]]:
    """{series: {local midnight (epoch ms): that day's statistics}} of the village over
    [start, end), for ``quantities``; with ``only_fields``, the field quantities (soil
    moisture) of those fields only, so one field's page does not read the whole village's
    probes. Raises ``InfluxError`` if InfluxDB fails."""
    query = _query(quantities, None if only_fields is None else len(only_fields))
    params: dict[str, str | int | float] = {
        "village_id": village_id,
        "start_ms": start_ms,
        "end_ms": end_ms,
    }
    for n, field_id in enumerate(only_fields or ()):
        params[f"f{n}"] = field_id
    result: dict[SeriesKey, dict[int, DayStats]] = {}
    for series in influx.query(query, params):
        key = SeriesKey(
            field_id=series.tags.get("field_id", ""),
            gateway_id=series.tags.get("gateway_id", ""),
            device_id=series.tags.get("device_id", ""),
            quantity=series.tags.get("quantity", ""),
        )
        days = result.setdefault(key, {})
        for row in series.rows():
            if not row.get("count") or row.get("mean") is None:
                continue
            days[int(row["time"])] = DayStats(
                mean=float(row["mean"]),
                min=float(row["min"]),
                max=float(row["max"]),
                count=int(row["count"]),
                sum=None if row.get("sum") is None else float(row["sum"]),
                hours=None if row.get("hours") is None else int(row["hours"]),
            )
    return result
