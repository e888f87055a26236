"""Crop water panels: each field's daily water balance (``rollup.water_1d``) and a village's.

The alerts service writes one ``water_1d`` point per field and local day (time = local
midnight; ``storage.water_days``): ET0, ETc and ETc adj, rain and irrigation, for dryland crops
the root-zone depletion against RAW and TAW (FAO-56 ch. 8), for paddy the water level, and on
today's point whether the advice is "water now". The field panels read those points as they
are (no ``GROUP BY time``, which would cut days at UTC midnight) over the last 30 days.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import stat, table, timeseries
from grafana_foundation_sdk.models.common import VisibilityMode
from grafana_foundation_sdk.models.dashboard import DynamicConfigValue, Threshold, ThresholdsMode

from dashboards.common import (
    AWD_THRESHOLD,
    FIELD,
    FIELDS,
    MIN_PONDED,
    MM,
    UTC_OFFSET_H,
    VILLAGE,
    WATER,
    local_day,
    local_week,
    water_level_thresholds,
)
from dashboards.influxql import InfluxQL
from dashboards.panels import PanelBuilder, bars, chart, grid, number, organize, unit_override

# The crop water panels look back a month of daily points, as the field's other daily panels.
DAYS_SHOWN = "30d"
# Weekly sums over about a season's quarter.
WEEKS_SHOWN = "12w"
# "Today" is the last 24 hours: it holds today's local-midnight point and never yesterday's.
TODAY = "24h"
_IN_VILLAGE = f"{VILLAGE} AND {FIELDS}"
# Series named as the query's AS names (Grafana's $col), so overrides can find them.
_BY_COLUMN = "$col"

_RAW_LINE = [
    DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": "orange"}),
    DynamicConfigValue(id_val="custom.lineStyle", value={"fill": "dash", "dash": [10, 10]}),
    DynamicConfigValue(id_val="custom.fillOpacity", value=0),
]
_TAW_LINE = [
    DynamicConfigValue(
        id_val="color", value={"mode": "fixed", "fixedColor": "rgba(128, 128, 128, 0.5)"}
    ),
    DynamicConfigValue(id_val="custom.lineWidth", value=1),
    DynamicConfigValue(id_val="custom.fillOpacity", value=0),
]
_AS_LINE = [
    DynamicConfigValue(id_val="custom.drawStyle", value="line"),
    DynamicConfigValue(id_val="custom.fillOpacity", value=0),
    DynamicConfigValue(id_val="custom.lineWidth", value=2),
    DynamicConfigValue(id_val="custom.showPoints", value="always"),
]
_YES_NO = [
    DynamicConfigValue(
        id_val="mappings",
        value=[
            {
                "type": "value",
                "options": {
                    "0": {"text": "tidak", "color": "green", "index": 0},
                    "1": {"text": "ya", "color": "red", "index": 1},
                },
            }
        ],
    ),
    DynamicConfigValue(id_val="custom.cellOptions", value={"type": "color-text"}),
]


def _daily(columns: dict[str, str]) -> InfluxQL:
    """The field's daily points: ``columns`` maps water_1d fields to series names."""
    selected = ", ".join(f'"{column}" AS "{name}"' for column, name in columns.items())
    return InfluxQL(f"SELECT {selected} FROM {WATER} WHERE {FIELD} AND $timeFilter").alias(
        _BY_COLUMN
    )


def _days_chart(
    title: str, description: str, query: InfluxQL, thresholds: dash.ThresholdsConfig | None = None
) -> timeseries.Panel:
    return (
        chart(title, description, query, MM, thresholds, interval=None, width=12)
        .show_points(VisibilityMode.ALWAYS)
        .time_from(DAYS_SHOWN)
    )


def evapotranspiration() -> timeseries.Panel:
    """ET0, ETc and ETc adj per day."""
    return _days_chart(
        "Evapotranspirasi harian / Daily evapotranspiration",
        "Reference evapotranspiration ET0 (FAO-56 Penman-Monteith from the weather station's "
        "day; on a day without one, the recent mean or Lampung's climatological value), the "
        "crop's water use without stress ETc = Kc x ET0, and with water stress ETc adj = Ks x "
        "Kc x ET0 (dryland crops), in mm per local day over the last 30 days, from the daily "
        "water balance (rollup.water_1d).",
        _daily({"et0_mm": "ET0", "etc_mm": "ETc", "etc_adj_mm": "ETc adj"}),
    )


def rain_and_irrigation() -> timeseries.Panel:
    """Rain and irrigation per day, stacked: the water the field received."""
    return bars(
        "Hujan dan irigasi harian / Daily rain and irrigation",
        "Rain (the field's gauge) and irrigation (the farmer's records) in mm per local day "
        "over the last 30 days, stacked: the water the field received. From the daily water "
        "balance (rollup.water_1d).",
        _daily({"rain_mm": "Hujan", "irrigation_mm": "Irigasi"}),
        MM,
        stacked=True,
        time_from=DAYS_SHOWN,
    )


def depletion() -> timeseries.Panel:
    """Root-zone depletion against RAW (dashed) and TAW (faint)."""
    return (
        _days_chart(
            "Kekurangan air zona akar / Root-zone depletion",
            "Root-zone depletion Dr (mm: the water missing to field capacity) at the end of "
            "each local day, against the readily available water RAW (dashed) and the total "
            "available water TAW (faint). Above RAW the crop is stressed and uses less than "
            "ETc (Ks < 1, FAO-56 eq. 83-84): the 'tanaman-kekurangan-air' alert rule and the "
            "advice 'water now'; at TAW the root zone is at wilting point. Dryland crops only: "
            "empty for paddy fields, which have the water level panel.",
            _daily({"depletion_mm": "Dr", "raw_mm": "RAW", "taw_mm": "TAW"}),
        )
        .override_by_name("RAW", _RAW_LINE)
        .override_by_name("TAW", _TAW_LINE)
    )


def water_level() -> timeseries.Panel:
    """A paddy's water level, with the AWD irrigation level as a dashed line."""
    return _days_chart(
        "Muka air sawah / Paddy water level",
        "Water level of a paddy field at the end of each local day (mm: + ponded above the "
        f"surface, - perched water below it). Line: {AWD_THRESHOLD:g} mm, where safe AWD "
        "(alternate wetting and drying, IRRI) irrigates; fields kept flooded, and AWD fields "
        "in their ponded weeks (after transplanting, around flowering), are refilled below "
        f"{MIN_PONDED:g} mm. Paddy fields only: empty for dryland crops.",
        _daily({"water_level_mm": "Muka air"}),
        water_level_thresholds(),
    )


def field_water_panels() -> list[PanelBuilder]:
    """The field dashboard's crop water row."""
    return [evapotranspiration(), rain_and_irrigation(), depletion(), water_level()]


def weekly_et0_and_rain(utc_offset_h: int = UTC_OFFSET_H) -> timeseries.Panel:
    """The village's ET0 and rain per local week (Monday to Sunday)."""
    # Mean over the village's fields per local day, then summed per local week: a field with
    # a missing day does not pull a week down, and the weeks start Monday at local midnight.
    per_day = (
        f'SELECT mean("et0_mm") AS "et0_mm", mean("rain_mm") AS "rain_mm" FROM {WATER}'
        f" WHERE {_IN_VILLAGE} AND $timeFilter GROUP BY {local_day(utc_offset_h)} fill(none)"
    )
    query = InfluxQL(
        f'SELECT sum("et0_mm") AS "ET0", sum("rain_mm") AS "Hujan" FROM ({per_day})'
        f" WHERE $timeFilter GROUP BY {local_week(utc_offset_h)} fill(none)"
    ).alias(_BY_COLUMN)
    return bars(
        "ET0 dan hujan per minggu / Weekly ET0 and rain",
        "The village's reference evapotranspiration ET0 (line) and rain (bars) per local "
        "week, Monday to Sunday, in mm: each day's mean over the chosen fields' daily water "
        "balance (rollup.water_1d), summed over the week. Rain below ET0 is a week the crops "
        "needed irrigation. The first week of the range may be partial.",
        query,
        MM,
        time_from=WEEKS_SHOWN,
        width=24,
    ).override_by_name("ET0", _AS_LINE)


def _needing_water_count() -> stat.Panel:
    # One row per field (its latest point of the last 24 hours), then their sum: a field
    # written under two crops that day still counts once.
    latest = (
        f'SELECT last("needs_water") AS "needs_water" FROM {WATER}'
        f' WHERE {_IN_VILLAGE} AND $timeFilter GROUP BY "field_id"'
    )
    query = InfluxQL(f'SELECT sum("needs_water") AS "Lahan" FROM ({latest})')
    thresholds = (
        dash.ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=None, color="green"), Threshold(value=1, color="orange")])
    )
    return number(
        "Lahan perlu air hari ini / Fields needing water today",
        "How many of the chosen fields the water balance says to water now (needs_water = 1 "
        "on today's water_1d point), as the 'tanaman-kekurangan-air' alert rule. Empty until "
        "the alerts service has balanced today (it does every 10 minutes).",
        query,
        "none",
        thresholds,
        width=6,
    ).time_from(TODAY)


def _water_today() -> table.Panel:
    columns = {
        "needs_water": "Perlu air",
        "depletion_mm": "Dr",
        "raw_mm": "RAW",
        "taw_mm": "TAW",
        "water_level_mm": "Muka air",
        "etc_mm": "ETc",
        "rain_mm": "Hujan",
        "irrigation_mm": "Irigasi",
    }
    selected = ", ".join(f'last("{column}") AS "{column}"' for column in columns)
    query = InfluxQL(
        f'SELECT {selected} FROM {WATER} WHERE {_IN_VILLAGE} AND $timeFilter GROUP BY "field_id"'
    )
    overrides = {name: unit_override(MM) for name in list(columns.values())[1:]}
    overrides["Perlu air"] = _YES_NO
    return grid(
        "Neraca air hari ini / Water balance today",
        "Each chosen field's water balance today (today's water_1d point): whether to water "
        "now, root-zone depletion Dr against RAW and TAW (dryland crops; above RAW the crop "
        "is stressed, FAO-56 eq. 83-84), the water level (paddy), and the day's ETc, rain "
        "and irrigation, in mm.",
        query,
        transformations=[organize({"field_id": "Lahan"} | columns, hide=("Time",))],
        overrides=overrides,
        width=18,
    ).time_from(TODAY)


def village_water_panels(utc_offset_h: int = UTC_OFFSET_H) -> list[PanelBuilder]:
    """The village dashboard's water panels: today's needs, then the weeks."""
    return [_needing_water_count(), _water_today(), weekly_et0_and_rain(utc_offset_h)]
