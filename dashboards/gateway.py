"""The gateway health dashboard (``tani-gateway``): are the gateways and their devices alive?

Everything comes from the gateways' periodic health reports (``gateway_health``,
``device_health``; every 5 minutes by default) and from the readings they delivered. A gateway
whose last report is old is offline or has no uplink: its outbox keeps the readings meanwhile,
and its outbox depth says how much is waiting once it is back.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import statetimeline
from grafana_foundation_sdk.models.dashboard import (
    Dashboard,
    DynamicConfigValue,
    ValueMap,
    ValueMappingResult,
)

from dashboards.common import (
    DEVICES,
    GATEWAY,
    GATEWAYS,
    RAW,
    TAGS,
    gateway_variable,
    link_to_other_dashboards,
    numbered,
)
from dashboards.influxql import InfluxQL, datasource_ref
from dashboards.panels import (
    HEALTH_INTERVAL,
    PanelBuilder,
    bars,
    chart,
    grid,
    organize,
    time_since,
)

UID = "tani-gateway"


def _words(yes: str, no: str) -> ValueMap:
    """A boolean shown as words, green for yes and red for no."""
    return ValueMap(
        options={
            "true": ValueMappingResult(text=yes, color="green"),
            "false": ValueMappingResult(text=no, color="red"),
        }
    )


def _yes_no(yes: str, no: str) -> list[DynamicConfigValue]:
    """Column settings showing a boolean as words."""
    return [DynamicConfigValue(id_val="mappings", value=[_words(yes, no)])]


def _status_table() -> InfluxQL:
    return InfluxQL(
        'SELECT last("outbox_depth") AS "outbox_depth", last("devices_online") AS'
        ' "devices_online", last("devices_offline") AS "devices_offline",'
        ' last("clock_trusted") AS "clock_trusted", last("readings_sent") AS "readings_sent",'
        f' last("uptime_s") AS "uptime_s" FROM {GATEWAYS} WHERE {GATEWAY} AND $timeFilter'
        ' GROUP BY "gateway_id"'
    )


def _devices_table() -> InfluxQL:
    return InfluxQL(
        'SELECT last("online") AS "online", last("errors") AS "errors"'
        f' FROM {DEVICES} WHERE {GATEWAY} AND $timeFilter GROUP BY "gateway_id", "device_id"'
    )


def _status_panels() -> list[PanelBuilder]:
    status = grid(
        "Status gateway",
        "Per gateway, its last health report in the range: readings waiting in its outbox, "
        "devices answering or not, whether its clock is trusted (NTP or past the configured "
        "floor; until then readings wait), readings sent since it started, and uptime. Time "
        "is when the report was made: an old one means the gateway is offline or has no "
        "uplink.",
        _status_table(),
        transformations=[
            organize(
                {
                    "Time": "Laporan terakhir",
                    "gateway_id": "Gateway",
                    "outbox_depth": "Antrean outbox",
                    "devices_online": "Perangkat daring",
                    "devices_offline": "Perangkat luring",
                    "clock_trusted": "Jam tepercaya",
                    "readings_sent": "Bacaan terkirim",
                    "uptime_s": "Waktu hidup",
                }
            )
        ],
        overrides={
            "Jam tepercaya": _yes_no("ya", "tidak"),
            "Waktu hidup": [DynamicConfigValue(id_val="unit", value="dtdurations")],
        },
        width=16,
    )
    devices = grid(
        "Perangkat",
        "Per device, from the last health report in the range: whether it answered its last "
        "poll, and the errors counted since the gateway started (CRC, timeouts, garbled "
        "lines).",
        _devices_table(),
        transformations=[
            organize(
                {
                    "Time": "Laporan terakhir",
                    "gateway_id": "Gateway",
                    "device_id": "Perangkat",
                    "online": "Daring",
                    "errors": "Galat",
                }
            )
        ],
        overrides={"Daring": _yes_no("daring", "luring")},
        width=8,
    )
    return [status, devices]


def _device_timeline() -> statetimeline.Panel:
    query = InfluxQL(
        f'SELECT last("online") FROM {DEVICES} WHERE {GATEWAY} AND $timeFilter'
        ' GROUP BY time($__interval), "gateway_id", "device_id" fill(none)'
    ).alias("$tag_gateway_id $tag_device_id")
    return (
        statetimeline.Panel()
        .title("Riwayat status perangkat")
        .description(
            "Whether each device answered, per health report over the range: gaps are "
            "reports that did not arrive (gateway offline or without uplink)."
        )
        .datasource(datasource_ref())
        .with_target(query.ref_id("A"))
        .interval(HEALTH_INTERVAL)
        .mappings([_words("daring", "luring")])
        .merge_values(True)
        .fill_opacity(70)
        .line_width(0)
        .span(24)
        .height(6)
    )


def _last_seen_panels() -> list[PanelBuilder]:
    last_report = InfluxQL(
        f'SELECT last("uptime_s") FROM {GATEWAYS} WHERE {GATEWAY} AND $timeFilter'
        ' GROUP BY "gateway_id"'
    ).alias("$tag_gateway_id")
    last_reading = InfluxQL(
        f'SELECT last("value") FROM {RAW} WHERE {GATEWAY} AND $timeFilter GROUP BY "gateway_id"'
    ).alias("$tag_gateway_id")
    return [
        time_since(
            "Laporan kesehatan terakhir",
            "Time since each gateway's last health report (sent every 5 minutes by default).",
            last_report,
            width=12,
        ),
        time_since(
            "Bacaan terakhir",
            "Time since the newest reading each gateway delivered (by the reading's own time).",
            last_reading,
            width=12,
        ),
    ]


def _trend_panels() -> list[PanelBuilder]:
    outbox = InfluxQL(
        f'SELECT max("outbox_depth") FROM {GATEWAYS} WHERE {GATEWAY} AND $timeFilter'
        ' GROUP BY time($__interval), "gateway_id" fill(none)'
    ).alias("$tag_gateway_id")
    devices = InfluxQL(
        'SELECT last("devices_online") AS "daring", last("devices_offline") AS "luring"'
        f" FROM {GATEWAYS} WHERE {GATEWAY} AND $timeFilter"
        ' GROUP BY time($__interval), "gateway_id" fill(none)'
    ).alias("$tag_gateway_id $col")
    # readings_sent counts since the gateway started: the difference between two reports is
    # what it sent in between; a restart resets the counter, and non_negative_difference drops
    # that one step. Per report, not per interval: two reports must fall in the range.
    sent = InfluxQL(
        f'SELECT non_negative_difference("readings_sent") FROM {GATEWAYS}'
        f' WHERE {GATEWAY} AND $timeFilter GROUP BY "gateway_id"'
    ).alias("$tag_gateway_id")
    stored = InfluxQL(
        f'SELECT count("value") FROM {RAW} WHERE {GATEWAY} AND $timeFilter'
        ' GROUP BY time($__interval), "gateway_id" fill(none)'
    ).alias("$tag_gateway_id")
    return [
        chart(
            "Antrean outbox",
            "Readings waiting in each gateway's outbox (not yet acknowledged by the broker). "
            "Growing: no uplink; falling after an outage: the backlog going out.",
            outbox,
            "short",
            interval=HEALTH_INTERVAL,
            width=12,
        ),
        chart(
            "Perangkat daring / luring",
            "Devices answering (daring) and not answering (luring) per gateway, from its "
            "health reports.",
            devices,
            "short",
            interval=HEALTH_INTERVAL,
            width=12,
        ),
        bars(
            "Bacaan terkirim",
            "Readings each gateway sent (acknowledged by the broker) between two of its health "
            "reports (every 5 minutes by default), from the counter in the reports.",
            sent,
            "short",
        ),
        bars(
            "Bacaan tersimpan",
            "Readings of each gateway stored in InfluxDB per interval, by the readings' own "
            "time: after an outage, the replayed backlog fills the gap.",
            stored,
            "short",
            interval=HEALTH_INTERVAL,
        ),
    ]


def gateway_dashboard() -> Dashboard:
    """The gateway health dashboard model."""
    builder = (
        dash.Dashboard("Kesehatan gateway")
        .uid(UID)
        .description(
            "Gateway health from the gateways' periodic reports: last seen, outbox depth, "
            "devices online and offline, clock trusted, readings sent and stored."
        )
        .tags(list(TAGS))
        .time("now-24h", "now")
        .refresh("1m")
        .timezone("browser")
        .with_variable(gateway_variable())
        .link(link_to_other_dashboards())
    )
    panels = [*_last_seen_panels(), *_status_panels(), _device_timeline(), *_trend_panels()]
    for panel in panels:
        builder = builder.with_panel(panel)
    return numbered(builder.build())
