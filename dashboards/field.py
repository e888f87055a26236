"""The field dashboard (``tani-field``): one field's soil, weather, crop water and data quality.

Charts of the chosen range read raw readings averaged per Grafana interval; the 30-day panels
read the daily rollups (``rollup.reading_1d``), which stay when raw readings expire and answer
a month in 30 rows per series, and the daily water balance (``rollup.water_1d``,
:mod:`dashboards.water`).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import timeseries
from grafana_foundation_sdk.models.dashboard import Dashboard

from dashboards.common import (
    DAILY,
    FIELD,
    HOURLY,
    NOT_BAD,
    RAW,
    TAGS,
    field_variable,
    grafana_unit,
    heat_thresholds,
    link_to_other_dashboards,
    moisture_note,
    moisture_thresholds,
    numbered,
    village_variable,
)
from dashboards.influxql import InfluxQL
from dashboards.panels import PanelBuilder, bars, chart, grid, latest, organize
from dashboards.water import field_water_panels
from telemetry.quantities import QUANTITIES

UID = "tani-field"
SOIL = (
    "soil_moisture",
    "soil_temperature",
    "soil_ec",
    "soil_ph",
    "soil_nitrogen",
    "soil_phosphorus",
    "soil_potassium",
)
WEATHER = (
    "air_temperature",
    "air_humidity",
    "air_pressure",
    "wind_speed",
    "wind_direction",
    "solar_radiation",
)
# Shown as big numbers at the top: what a farmer checks first.
AT_A_GLANCE = (
    "soil_moisture",
    "soil_temperature",
    "soil_ph",
    "soil_ec",
    "air_temperature",
    "air_humidity",
)


def _mean_by_device(quantity: str) -> InfluxQL:
    return InfluxQL(
        f'SELECT mean("value") FROM {RAW} WHERE {FIELD} AND "quantity" = \'{quantity}\''
        f" AND {NOT_BAD} AND $timeFilter"
        ' GROUP BY time($__interval), "device_id" fill(none)'
    ).alias("$tag_device_id")


def _mean(quantity: str) -> InfluxQL:
    return InfluxQL(
        f'SELECT mean("value") FROM {RAW} WHERE {FIELD} AND "quantity" = \'{quantity}\''
        f" AND {NOT_BAD} AND $timeFilter GROUP BY time($__interval) fill(none)"
    )


def _thresholds(quantity: str) -> dash.ThresholdsConfig | None:
    if quantity == "soil_moisture":
        return moisture_thresholds()
    if quantity == "air_temperature":
        return heat_thresholds()
    return None


def _description(quantity: str) -> str:
    spec = QUANTITIES[quantity]
    text = (
        f"{spec.label_en} ({spec.unit}) of the field's devices, mean per interval; "
        "readings of quality bad are left out."
    )
    if quantity == "soil_moisture":
        text += " " + moisture_note()
    return text


def _rain_panels() -> list[PanelBuilder]:
    hourly = InfluxQL(
        f'SELECT sum("sum") FROM {HOURLY} WHERE {FIELD} AND "quantity" = \'rain\''
        ' AND $timeFilter GROUP BY time(1h), "device_id" fill(none)'
    ).alias("$tag_device_id")
    daily = InfluxQL(
        f'SELECT "sum" FROM {DAILY} WHERE {FIELD} AND "quantity" = \'rain\''
        ' AND $timeFilter GROUP BY "device_id"'
    ).alias("$tag_device_id")
    return [
        bars(
            "Curah hujan per jam",
            "Rainfall per hour (mm) per rain gauge, from the hourly rollup (rollup.reading_1h).",
            hourly,
            grafana_unit("rain"),
        ),
        bars(
            "Curah hujan harian (30 hari)",
            "Rainfall per local day (mm) over the last 30 days, from the daily rollup "
            "(rollup.reading_1d, field sum); days start at local midnight.",
            daily,
            grafana_unit("rain"),
            time_from="30d",
        ),
    ]


def _moisture_30_days() -> timeseries.Panel:
    query = InfluxQL(
        f'SELECT "mean" AS "rata-rata", "min", "max" FROM {DAILY} WHERE {FIELD}'
        ' AND "quantity" = \'soil_moisture\' AND $timeFilter GROUP BY "device_id"'
    ).alias("$tag_device_id $col")
    return chart(
        "Kelembapan tanah harian (30 hari)",
        "Daily mean, minimum and maximum soil moisture over the last 30 days, from the daily "
        "rollup (rollup.reading_1d). " + moisture_note(),
        query,
        grafana_unit("soil_moisture"),
        moisture_thresholds(),
        interval=None,
        width=16,
    ).time_from("30d")


def _quality_panels() -> list[PanelBuilder]:
    per_interval = InfluxQL(
        f'SELECT count("value") FROM {RAW} WHERE {FIELD} AND $timeFilter'
        ' GROUP BY time($__interval), "quality" fill(none)'
    ).alias("$tag_quality")
    per_quantity = InfluxQL(
        f'SELECT count("value") FROM {RAW} WHERE {FIELD} AND $timeFilter'
        ' GROUP BY "quantity", "quality"'
    )
    return [
        bars(
            "Jumlah bacaan per mutu",
            "Readings stored per interval, by quality flag (good, suspect, bad): a falling "
            "total is a silent device; suspect or bad ones a failing sensor.",
            per_interval,
            "short",
            stacked=True,
            interval="5m",
        ),
        grid(
            "Bacaan per besaran dan mutu",
            "Readings in the range per quantity and quality flag.",
            per_quantity,
            transformations=[
                organize(
                    {"quantity": "Besaran", "quality": "Mutu", "count": "Jumlah"}, hide=("Time",)
                )
            ],
            width=12,
        ),
    ]


def field_dashboard() -> Dashboard:
    """The field dashboard model."""
    builder = (
        dash.Dashboard("Lahan: $field")
        .uid(UID)
        .description(
            "One field: latest conditions, soil and weather over the chosen range, daily "
            "rollups over 30 days, the crop's daily water balance (ET0, ETc, rain, irrigation, "
            "root-zone depletion against RAW, paddy water level) over 30 days, and how many "
            "readings arrived, by quality."
        )
        .tags(list(TAGS))
        .time("now-24h", "now")
        .refresh("1m")
        .timezone("browser")
        .with_variable(village_variable())
        .with_variable(field_variable(multi=False))
        .link(link_to_other_dashboards())
        .with_row(dash.Row("Kondisi terkini"))
    )
    for quantity in AT_A_GLANCE:
        spec = QUANTITIES[quantity]
        builder = builder.with_panel(
            latest(
                spec.label_id,
                f"Latest {spec.label_en.lower()} ({spec.unit}) in the range.",
                _mean(quantity),
                grafana_unit(quantity),
                _thresholds(quantity),
                width=24 // len(AT_A_GLANCE),
            )
        )
    builder = builder.with_row(dash.Row("Tanah"))
    for quantity in SOIL:
        builder = builder.with_panel(
            chart(
                QUANTITIES[quantity].label_id,
                _description(quantity),
                _mean_by_device(quantity),
                grafana_unit(quantity),
                _thresholds(quantity),
            )
        )
    builder = builder.with_panel(_moisture_30_days())
    builder = builder.with_row(dash.Row("Cuaca"))
    for quantity in WEATHER:
        builder = builder.with_panel(
            chart(
                QUANTITIES[quantity].label_id,
                _description(quantity),
                _mean_by_device(quantity),
                grafana_unit(quantity),
                _thresholds(quantity),
            )
        )
    for panel in _rain_panels():
        builder = builder.with_panel(panel)
    builder = builder.with_row(dash.Row("Air tanaman / Crop water"))
    for panel in field_water_panels():
        builder = builder.with_panel(panel)
    builder = builder.with_row(dash.Row("Mutu data"))
    for panel in _quality_panels():
        builder = builder.with_panel(panel)
    return numbered(builder.build())
