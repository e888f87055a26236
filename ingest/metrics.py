"""Prometheus metrics of an ingest worker, served on /metrics.

Counters are read from the worker's own stats at scrape time (one source of truth); write
latency is a histogram observed as writes happen; missing readings per gateway come from the
sequence audit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from ingest.sequences import SequenceAudit
from ops.prometheus import MetricsEndpoint

if TYPE_CHECKING:
    from ingest.service import IngestStats


class _StatsCollector(Collector):
    def __init__(
        self,
        stats: Callable[[], IngestStats],
        audits: Callable[[], dict[str, SequenceAudit]],
        backlog: Callable[[], tuple[int, float]],
    ) -> None:
        self._stats = stats
        self._audits = audits
        self._backlog = backlog

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        s = self._stats()
        for name, value, text in (
            ("messages", s.messages_received, "MQTT messages received"),
            ("readings_written", s.readings_written, "readings written to InfluxDB"),
            ("batches", s.batches_written, "InfluxDB write batches"),
            ("readings_rejected", s.readings_rejected, "readings refused by validation"),
            ("readings_impossible", s.readings_impossible, "impossible values stored as bad"),
            ("readings_held", s.readings_held, "readings of unregistered devices held"),
            ("readings_confirmed", s.readings_confirmed, "readings confirmed to gateways"),
            ("internal_errors", s.internal_errors, "messages that met an unforeseen error"),
            ("duplicate_readings", s.duplicate_readings, "readings received again"),
            ("write_retries", s.write_retries, "InfluxDB writes retried"),
            ("last_values_failures", s.last_values_failures, "last-value store writes failed"),
        ):
            yield CounterMetricFamily(f"tani_ingest_{name}", text, value=value)
        dead = CounterMetricFamily(
            "tani_ingest_dead_letters", "messages set aside, by reason", labels=["reason"]
        )
        for reason, count in sorted(s.rejected_by_reason.items()):
            dead.add_metric([reason], count)
        yield dead
        waiting, stalled_s = self._backlog()
        yield GaugeMetricFamily(
            "tani_ingest_backlog_messages",
            "messages received and not yet acknowledged",
            value=waiting,
        )
        yield GaugeMetricFamily(
            "tani_ingest_backlog_stalled_seconds",
            "seconds without any acknowledgement while messages wait (0: none wait)",
            value=stalled_s,
        )
        missing = GaugeMetricFamily(
            "tani_ingest_missing_readings",
            "sequence numbers of a gateway's recent span with no stored reading",
            labels=["gateway_id"],
        )
        for gateway_id, audit in sorted(self._audits().items()):
            missing.add_metric([gateway_id], audit.missing)
        yield missing


class IngestMetrics(MetricsEndpoint):
    """The registry of one worker, and its HTTP endpoint once served."""

    def __init__(
        self,
        stats: Callable[[], IngestStats],
        audits: Callable[[], dict[str, SequenceAudit]],
        backlog: Callable[[], tuple[int, float]],
    ) -> None:
        super().__init__()
        self.registry.register(_StatsCollector(stats, audits, backlog))
        self.write_seconds = Histogram(
            "tani_ingest_write_seconds",
            "time to write one batch to InfluxDB",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
