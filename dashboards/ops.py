"""The operations dashboard (``tani-ops``): ingest's own Prometheus metrics.

Ingest serves ``/metrics`` (``metrics_port``; see ``ingest/metrics.py``). This dashboard needs
a Prometheus that scrapes it, reached by Grafana as the data source ``tani-prometheus``; the
docker-compose deployment has none, so the dashboard is exported only on request
(``tani grafana export --ops``).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.models import units
from grafana_foundation_sdk.models.common import BigValueGraphMode, TooltipDisplayMode
from grafana_foundation_sdk.models.dashboard import Dashboard, DataSourceRef

from dashboards.common import TAGS, link_to_other_dashboards, numbered
from dashboards.panels import legend

UID = "tani-ops"
PROMETHEUS_TYPE = "prometheus"
PROMETHEUS_UID = "tani-prometheus"


def _source() -> DataSourceRef:
    return DataSourceRef(type_val=PROMETHEUS_TYPE, uid=PROMETHEUS_UID)


def _query(expr: str, legend: str) -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).ref_id("A")


def _rate(metric: str, by: str = "instance") -> str:
    return f"sum by ({by}) (rate({metric}[$__rate_interval]))"


def _chart(
    title: str, description: str, query: prometheus.Dataquery, unit: str
) -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(_source())
        .with_target(query)
        .unit(unit)
        .tooltip(common_builders.VizTooltipOptions().mode(TooltipDisplayMode.MULTI))
        .legend(legend())
        .span_nulls(True)
        .span(12)
        .height(8)
    )


def ops_dashboard() -> Dashboard:
    """The operations dashboard model."""
    backlog = (
        stat.Panel()
        .title("Antrean ingest")
        .description(
            "Messages ingest received and has not yet acknowledged (waiting for InfluxDB). "
            "It stays near zero; growing means InfluxDB is slow or down, and the backlog "
            "waits in Mosquitto's queue meanwhile."
        )
        .datasource(_source())
        .with_target(_query("sum(tani_ingest_backlog_messages)", "antrean"))
        .unit(units.Short)
        .graph_mode(BigValueGraphMode.AREA)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .span(6)
        .height(8)
    )
    panels = [
        backlog,
        _chart(
            "Bacaan tertulis per detik",
            "Readings written to InfluxDB per second, per ingest worker.",
            _query(_rate("tani_ingest_readings_written_total"), "{{instance}}"),
            units.RecordsPerSecond,
        ).span(18),
        _chart(
            "Pesan MQTT per detik",
            "MQTT messages received per second (each holds a batch of readings).",
            _query(_rate("tani_ingest_messages_total"), "{{instance}}"),
            units.MessagesPerSecond,
        ),
        _chart(
            "Latensi tulis InfluxDB (p95)",
            "95th percentile of the time to write one batch to InfluxDB.",
            _query(
                "histogram_quantile(0.95, sum by (le) "
                "(rate(tani_ingest_write_seconds_bucket[$__rate_interval])))",
                "p95",
            ),
            units.Seconds,
        ),
        _chart(
            "Surat mati per alasan",
            "Messages set aside as dead letters per second, by reason (malformed payload, "
            "invalid reading, forged topic ...): see them with `tani deadletters`.",
            _query(_rate("tani_ingest_dead_letters_total", "reason"), "{{reason}}"),
            units.MessagesPerSecond,
        ),
        _chart(
            "Bacaan hilang per gateway",
            "Sequence numbers of each gateway's recent span with no stored reading (ingest's "
            "audit of InfluxDB): above zero for long means readings were lost.",
            _query("max by (gateway_id) (tani_ingest_missing_readings)", "{{gateway_id}}"),
            units.Short,
        ),
        _chart(
            "Ditolak, duplikat, ulang tulis",
            "Per second: readings refused by validation, readings received again (replays; "
            "harmless), and InfluxDB writes retried.",
            _query(
                "sum(rate(tani_ingest_readings_rejected_total[$__rate_interval]))",
                "ditolak",
            ),
            units.RecordsPerSecond,
        )
        .with_target(
            _query(
                "sum(rate(tani_ingest_duplicate_readings_total[$__rate_interval]))", "duplikat"
            ).ref_id("B")
        )
        .with_target(
            _query("sum(rate(tani_ingest_write_retries_total[$__rate_interval]))", "ulang").ref_id(
                "C"
            )
        ),
    ]
    builder = (
        dash.Dashboard("Operasional Tani Hub")
        .uid(UID)
        .description(
            "Ingest's Prometheus metrics: throughput, InfluxDB write latency, backlog, dead "
            "letters and missing readings. Needs a Prometheus scraping ingest's /metrics as the "
            "data source tani-prometheus."
        )
        .tags(list(TAGS))
        .time("now-6h", "now")
        .refresh("30s")
        .timezone("browser")
        .link(link_to_other_dashboards())
    )
    for panel in panels:
        builder = builder.with_panel(panel)
    return numbered(builder.build())
