"""Each field's daily water balance, as stored for dashboards and summaries: ``water_1d``.

One point per field and local day (time = local midnight, like ``reading_1d``), in the rollup
retention policy, tags ``field_id``, ``village_id``, ``crop``; float fields in millimetres
unless named otherwise (see ``WATER_FIELDS``), and ``needs_water`` (1 on a day the advice was
"water now"). The alerts service's water job (``alerts.water_job``) recomputes recent days and
writes them again; a rewritten point overwrites itself (same series and time), so running it
twice, or after a late reading changed a day, is harmless.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from storage.influx import InfluxDB
from storage.schema import ROLLUP_RETENTION_POLICY, _escape_tag

WATER_MEASUREMENT = "water_1d"
# What a day carries (None: not known that day, left out of the point).
WATER_FIELDS = (
    "et0_mm",
    "etc_mm",  # the crop's water use without stress, Kc x ET0
    "etc_adj_mm",  # with stress, Ks x Kc x ET0
    "rain_mm",
    "effective_rain_mm",
    "irrigation_mm",
    "depletion_mm",  # root zone: water missing to field capacity (FAO-56 Dr)
    "raw_mm",  # readily available water: stress once the depletion passes it
    "taw_mm",
    "water_level_mm",  # paddy: + ponded, - below the surface
    "moisture_pct",
    "needs_water",  # 1: water now, 0: not
)
_INTEGER_FIELDS = frozenset({"needs_water"})

_QUERY = (
    f'SELECT * FROM "{ROLLUP_RETENTION_POLICY}"."{WATER_MEASUREMENT}"'
    ' WHERE "village_id" = $village_id'
    " AND time >= $start_ms * 1000000 AND time < $end_ms * 1000000"
    ' GROUP BY "field_id"'
)


# {field id: [(local midnight, values)]}
VillageWaterDays = dict[str, list[tuple[int, dict[str, float]]]]


@dataclass(frozen=True, slots=True)
class WaterDay:
    """One field's day of water balance."""

    field_id: str
    village_id: str
    crop: str
    day_ms: int  # local midnight
    values: dict[str, float]


def water_lines(days: Iterable[WaterDay]) -> list[str]:
    """Line protocol for ``days`` (fields not in ``WATER_FIELDS`` are refused)."""
    lines = []
    for day in days:
        unknown = set(day.values) - set(WATER_FIELDS)
        if unknown:
            raise ValueError(f"not water_1d fields: {sorted(unknown)}")
        fields = ",".join(
            f"{key}={int(value)}i" if key in _INTEGER_FIELDS else f"{key}={float(value)!r}"
            for key, value in sorted(day.values.items())
        )
        if not fields:
            continue
        tags = (
            f",crop={_escape_tag(day.crop)},field_id={_escape_tag(day.field_id)}"
            f",village_id={_escape_tag(day.village_id)}"
        )
        lines.append(f"{WATER_MEASUREMENT}{tags} {fields} {day.day_ms}")
    return lines


def write_water_days(influx: InfluxDB, days: Sequence[WaterDay]) -> int:
    """Write ``days`` (in batches); how many points. Raises ``InfluxError`` on failure."""
    lines = water_lines(days)
    for start in range(0, len(lines), 5000):
        influx.write_lines(lines[start : start + 5000], retention_policy=ROLLUP_RETENTION_POLICY)
    return len(lines)


def village_water_days(
    influx: InfluxDB, village_id: str, start_ms: int, end_ms: int
) -> VillageWaterDays:
    """The village's fields' days over [start, end), one query, oldest first. Raises
    ``InfluxError`` if InfluxDB fails."""
    params: dict[str, str | int | float] = {
        "village_id": village_id,
        "start_ms": start_ms,
        "end_ms": end_ms,
    }
    result: VillageWaterDays = {}
    for series in influx.query(_QUERY, params):
        field_id = series.tags.get("field_id", "")
        for row in series.rows():
            values = {key: float(row[key]) for key in WATER_FIELDS if row.get(key) is not None}
            result.setdefault(field_id, []).append((int(row["time"]), values))
    return result
