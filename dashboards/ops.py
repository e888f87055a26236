"""The operations dashboard (``tani-ops``): the services' own Prometheus metrics.

Ingest, the API and the alerts service each serve ``/metrics`` on their own port
(``metrics_port``; see ``ingest/metrics.py``, ``api/metrics.py``, ``alerts/metrics.py``); the
gateways report their health over MQTT instead, on the gateway dashboard. This dashboard needs
a Prometheus that scrapes them, reached by Grafana as the data source ``tani-prometheus``; the
docker-compose deployment has none, so the dashboard is exported only on request
(``tani grafana export --ops``).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.models import units
from grafana_foundation_sdk.models.common import BigValueGraphMode, TooltipDisplayMode
from grafana_foundation_sdk.models.dashboard import Dashboard, DataSourceRef, Panel

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


def _stat(title: str, description: str, query: prometheus.Dataquery) -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(_source())
        .with_target(query)
        .unit(units.Short)
        .graph_mode(BigValueGraphMode.AREA)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .span(6)
        .height(8)
    )


def _ingest_panels() -> list[Builder[Panel]]:
    backlog = _stat(
        "Antrean ingest",
        "Messages ingest received and has not yet acknowledged (waiting for InfluxDB). It stays "
        "near zero; growing means InfluxDB is slow or down, and the backlog waits in "
        "Mosquitto's queue meanwhile.",
        _query("sum(tani_ingest_backlog_messages)", "antrean"),
    )
    return [
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


def _api_panels() -> list[Builder[Panel]]:
    hits = "sum by (cache) (rate(tani_api_cache_hits_total[$__rate_interval]))"
    misses = "sum by (cache) (rate(tani_api_cache_misses_total[$__rate_interval]))"
    return [
        _chart(
            "Permintaan API per rute",
            "HTTP requests answered per second, by route template (a path with its "
            "parameters in braces), over every API process.",
            _query(_rate("tani_api_requests_total", "route"), "{{route}}"),
            units.RequestsPerSecond,
        ),
        _chart(
            "Latensi API per rute (p95)",
            "95th percentile of the time to answer a request, by route template. A farmer's "
            "latest conditions (/api/v1/fields/{field_id}/latest) aim at 50 ms.",
            _query(
                "histogram_quantile(0.95, sum by (route, le) "
                "(rate(tani_api_request_seconds_bucket[$__rate_interval])))",
                "{{route}}",
            ),
            units.Seconds,
        ),
        _chart(
            "Galat 5xx API",
            "Requests per second answered with a server error (5xx), by route template and "
            "status: 503 means InfluxDB or the registry did not answer.",
            _query(
                'sum by (route, status) (rate(tani_api_requests_total{status=~"5.."}'
                "[$__rate_interval]))",
                "{{route}} {{status}}",
            ),
            units.RequestsPerSecond,
        ),
        _chart(
            "Rasio cache API",
            "Share of lookups each API cache answered (latest readings, field entries, "
            "signed-in tokens, village summaries); low while traffic is low is normal.",
            _query(f"{hits} / ({hits} + {misses})", "{{cache}}"),
            units.PercentUnit,
        ),
    ]


def _alerts_panels() -> list[Builder[Panel]]:
    return [
        _stat(
            "Peringatan terbuka",
            "Alerts open or acknowledged and not yet resolved, all villages.",
            _query("sum(tani_alerts_open)", "terbuka"),
        ),
        _stat(
            "Pengiriman tertunda",
            "Notifications queued and not yet sent (held through quiet hours, waiting for a "
            "channel's hourly limit, or retrying). Growing for long: a channel is down.",
            _query("sum(tani_alerts_deliveries_pending)", "tertunda"),
        ),
        _chart(
            "Putaran evaluasi per 5 menit",
            "Evaluation passes over every rule (ok, or failed with an error in the log), and "
            "rules skipped because InfluxDB did not answer.",
            _query(
                "sum by (outcome) (increase(tani_alerts_evaluation_passes_total[5m]))",
                "{{outcome}}",
            ),
            units.Short,
        ).with_target(
            _query(
                "sum(increase(tani_alerts_rules_not_evaluated_total[5m]))", "aturan dilewati"
            ).ref_id("B")
        ),
        _chart(
            "Lama evaluasi (p95)",
            "95th percentile of the time of one evaluation pass; near the pass interval "
            "(evaluation.every_s) means alerts come late.",
            _query(
                "histogram_quantile(0.95, sum by (le) "
                "(rate(tani_alerts_evaluation_seconds_bucket[$__rate_interval])))",
                "p95",
            ),
            units.Seconds,
        ),
        _chart(
            "Peringatan dibuka per jam",
            "Alerts opened in the past hour, by severity; and escalated to the village office "
            "because nobody acknowledged them.",
            _query("sum by (severity) (increase(tani_alerts_opened_total[1h]))", "{{severity}}"),
            units.Short,
        ).with_target(
            _query("sum(increase(tani_alerts_escalated_total[1h]))", "dieskalasi").ref_id("B")
        ),
        _chart(
            "Pengiriman gagal",
            "Notifications given up in the past hour, by channel kind (mailto, tgram, json "
            "...), and those now waiting to be retried after a failed try.",
            _query(
                'sum by (channel) (increase(tani_alerts_deliveries_total{outcome="failed"}[1h]))',
                "gagal {{channel}}",
            ),
            units.Short,
        ).with_target(
            _query(
                "sum by (channel) (tani_alerts_deliveries_retrying)", "diulang {{channel}}"
            ).ref_id("B")
        ),
    ]


def ops_dashboard() -> Dashboard:
    """The operations dashboard model."""
    builder = (
        dash.Dashboard("Operasional Tani Hub")
        .uid(UID)
        .description(
            "The services' Prometheus metrics. Ingest: throughput, InfluxDB write latency, "
            "backlog, dead letters and missing readings. API: requests, latency and errors by "
            "route, cache hit ratio. Alerts: evaluation passes, alerts opened, deliveries "
            "failed and pending. Needs a Prometheus scraping each service's /metrics as the "
            "data source tani-prometheus."
        )
        .tags(list(TAGS))
        .time("now-6h", "now")
        .refresh("30s")
        .timezone("browser")
        .link(link_to_other_dashboards())
    )
    for title, panels in (
        ("Ingest", _ingest_panels()),
        ("API", _api_panels()),
        ("Peringatan (alerts)", _alerts_panels()),
    ):
        builder = builder.with_row(dash.Row(title))
        for panel in panels:
            builder = builder.with_panel(panel)
    return numbered(builder.build())
