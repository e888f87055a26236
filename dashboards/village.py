"""The village overview (``tani-village``): every field of a village side by side.

Alerts are not here: their state (open, acknowledged, resolved) lives in the registry database
(SQLite or PostgreSQL), which Grafana does not read. The dashboard shows what InfluxDB has that
alerts are made from — moisture against the dry threshold, readings flagged bad — and links to
the API's ``/peringatan`` page, where officers see and acknowledge the alerts.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.models.dashboard import Dashboard

from dashboards.common import (
    DAILY,
    FIELDS,
    NOT_BAD,
    RAW,
    TAGS,
    VILLAGE,
    api_url_variable,
    field_variable,
    grafana_unit,
    link_to_other_dashboards,
    moisture_note,
    moisture_thresholds,
    numbered,
    village_variable,
)
from dashboards.influxql import InfluxQL
from dashboards.panels import bars, chart, grid, note, organize, pivot, unit_override
from dashboards.water import village_water_panels
from telemetry.quantities import QUANTITIES

UID = "tani-village"
DEFAULT_API_URL = "http://localhost:8000"
# Columns of the latest-values table: the quantities a village office compares across fields.
TABLE_QUANTITIES = (
    "soil_moisture",
    "soil_temperature",
    "soil_ph",
    "air_temperature",
    "air_humidity",
)
_IN_VILLAGE = f"{VILLAGE} AND {FIELDS}"


def _moisture_per_field() -> InfluxQL:
    return InfluxQL(
        f'SELECT mean("value") FROM {RAW} WHERE {_IN_VILLAGE} AND "quantity" = \'soil_moisture\''
        f' AND {NOT_BAD} AND $timeFilter GROUP BY time($__interval), "field_id" fill(none)'
    ).alias("$tag_field_id")


def _daily_rain_per_field() -> InfluxQL:
    # Each daily rollup point is one local day already: no GROUP BY time, which would cut days
    # at UTC midnight instead.
    return InfluxQL(
        f'SELECT "sum" FROM {DAILY} WHERE {_IN_VILLAGE} AND "quantity" = \'rain\''
        ' AND $timeFilter GROUP BY "field_id", "device_id"'
    ).alias("$tag_field_id $tag_device_id")


def _latest_table() -> InfluxQL:
    quantities = "|".join(TABLE_QUANTITIES)
    return InfluxQL(
        f'SELECT last("value") FROM {RAW} WHERE {_IN_VILLAGE} AND "quantity" =~ /^({quantities})$/'
        f' AND {NOT_BAD} AND $timeFilter GROUP BY "field_id", "quantity"'
    )


def _bad_readings() -> InfluxQL:
    return InfluxQL(
        f'SELECT count("value") FROM {RAW} WHERE {_IN_VILLAGE} AND "quality" = \'bad\''
        ' AND $timeFilter GROUP BY time(1h), "field_id" fill(none)'
    ).alias("$tag_field_id")


def _alerts_note() -> str:
    return (
        "Peringatan (tanah kering, tergenang, gateway offline, sensor bermasalah) disimpan di "
        "basis data Tani Hub, bukan di InfluxDB: lihat dan tanggapi di "
        "[halaman peringatan](${api_url}/peringatan) atau "
        "[ringkasan desa](${api_url}/desa/${village}/ringkasan).\n\n"
        "Alerts live in Tani Hub's database, not in InfluxDB: see and acknowledge them on the "
        "[alerts page](${api_url}/peringatan)."
    )


def village_dashboard(api_url: str = DEFAULT_API_URL) -> Dashboard:
    """The village overview model; ``api_url`` is where browsers reach the Tani Hub pages."""
    renames = {"field_id\\quantity": "Lahan"}
    renames |= {q: QUANTITIES[q].label_id for q in TABLE_QUANTITIES}
    builder = (
        dash.Dashboard("Desa: $village")
        .uid(UID)
        .description(
            "All fields of a village: soil moisture per field, the fields needing water today "
            "and their water balance, ET0 and rain per week, daily rainfall, the latest "
            "values, and readings flagged bad. Alerts are kept in Tani Hub's registry database "
            "(SQLite/PostgreSQL), which Grafana does not read: the alerts panel links to the "
            "API's /peringatan page."
        )
        .tags(list(TAGS))
        .time("now-7d", "now")
        .refresh("5m")
        .timezone("browser")
        .with_variable(village_variable())
        .with_variable(field_variable(multi=True))
        .with_variable(api_url_variable(api_url))
        .link(link_to_other_dashboards())
        .with_panel(
            note(
                "Peringatan",
                "Alerts are not in InfluxDB: they live in the registry database and are shown "
                "and acknowledged on the API's /peringatan page.",
                _alerts_note(),
            )
        )
        .with_panel(
            chart(
                "Kelembapan tanah per lahan",
                "Soil moisture per field, mean of its probes per interval; readings of quality "
                "bad are left out. " + moisture_note(),
                _moisture_per_field(),
                grafana_unit("soil_moisture"),
                moisture_thresholds(),
                width=24,
            )
        )
    )
    for panel in village_water_panels():
        builder = builder.with_panel(panel)
    builder = (
        builder.with_panel(
            bars(
                "Curah hujan harian per lahan",
                "Rainfall per field and local day (mm), from the daily rollup "
                "(rollup.reading_1d, field sum): a month reads 30 rows per rain gauge.",
                _daily_rain_per_field(),
                grafana_unit("rain"),
            )
        )
        .with_panel(
            bars(
                "Bacaan mutu buruk per lahan",
                "Readings per hour flagged bad (outside what the sensor can report): what the "
                "'sensor-bermasalah' alert rule watches. Empty is good.",
                _bad_readings(),
                "short",
                stacked=True,
            )
        )
        .with_panel(
            grid(
                "Nilai terakhir per lahan",
                "The latest value in the range of each field's main quantities (one row per "
                "field); readings of quality bad are left out.",
                _latest_table(),
                transformations=[
                    pivot(row="field_id", column="quantity", value="last"),
                    organize(renames),
                ],
                overrides={
                    QUANTITIES[q].label_id: unit_override(grafana_unit(q)) for q in TABLE_QUANTITIES
                },
            )
        )
    )
    return numbered(builder.build())
