"""Prometheus metrics of the alerts service, served on /metrics on their own port.

Evaluation passes are counted and timed as the evaluator runs them. Alerts and deliveries are
counted from the registry at scrape time, with two grouped COUNT queries: the registry is the
one source of truth, it also holds what people did through the API (acknowledging, resolving),
and its counts survive a restart. Rows there are never deleted, so counts of alerts opened and
of deliveries that ended only grow, as Prometheus counters must. Labels are bounded: severity,
rule kind, and a channel's kind (its apprise scheme, never the URL, which may hold a token).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

from prometheus_client import Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from alerts.evaluator import EvaluationReport
from ops.prometheus import MetricsEndpoint
from registry.alerting import Alert, AlertState, Delivery, DeliveryStatus
from registry.people import Channel
from registry.store import Registry

log = logging.getLogger(__name__)

# A scheme as apprise spells them (mailto, tgram, json, ...); anything else is "other".
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]{0,19}")
_ENDED = (DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.CANCELLED)


def channel_kind(url: str) -> str:
    """The kind of a channel for a label: its URL's scheme, or "other"."""
    scheme, sep, _ = url.partition("://")
    scheme = scheme.lower()
    return scheme if sep and _SCHEME.fullmatch(scheme) else "other"


class _RegistryCollector(Collector):
    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        try:
            with Session(self._registry.engine) as session:
                alerts = session.execute(
                    select(
                        Alert.severity,
                        Alert.kind,
                        func.count(),
                        func.count(Alert.resolved_ms),
                        func.count(Alert.escalated_ms),
                        func.sum(case((Alert.state != AlertState.RESOLVED.value, 1), else_=0)),
                    ).group_by(Alert.severity, Alert.kind)
                ).all()
                deliveries = session.execute(
                    select(
                        Delivery.channel_id,
                        Delivery.status,
                        func.count(),
                        func.sum(case((Delivery.attempts > 0, 1), else_=0)),
                    ).group_by(Delivery.channel_id, Delivery.status)
                ).all()
                kinds = {
                    channel_id: channel_kind(url)
                    for channel_id, url in session.execute(select(Channel.id, Channel.url))
                }
        except SQLAlchemyError as exc:
            # A locked or unreachable registry costs this scrape its counts, not the endpoint.
            log.warning("metrics: registry not readable", extra={"reason": str(exc)})
            return
        yield from _alert_families(alerts)
        yield from _delivery_families(deliveries, kinds)


def _alert_families(
    rows: list[tuple[str, str, int, int, int, int | None]],
) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
    labels = ["severity", "kind"]
    opened = CounterMetricFamily("tani_alerts_opened", "alerts opened", labels=labels)
    resolved = CounterMetricFamily("tani_alerts_resolved", "alerts resolved", labels=labels)
    escalated = CounterMetricFamily(
        "tani_alerts_escalated",
        "alerts escalated to the village office (nobody acknowledged them)",
        labels=labels,
    )
    still_open = GaugeMetricFamily(
        "tani_alerts_open", "alerts open or acknowledged, not yet resolved", labels=labels
    )
    for severity, kind, total, n_resolved, n_escalated, n_open in rows:
        opened.add_metric([severity, kind], total)
        resolved.add_metric([severity, kind], n_resolved)
        escalated.add_metric([severity, kind], n_escalated)
        still_open.add_metric([severity, kind], n_open or 0)
    yield from (opened, resolved, escalated, still_open)


def _delivery_families(
    rows: list[tuple[int, str, int, int | None]], kinds: dict[int, str]
) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
    ended: dict[tuple[str, str], int] = {}
    pending: dict[str, int] = {}
    retrying: dict[str, int] = {}
    for channel_id, status, count, tried in rows:
        kind = kinds.get(channel_id, "other")
        if status == DeliveryStatus.PENDING.value:
            pending[kind] = pending.get(kind, 0) + count
            retrying[kind] = retrying.get(kind, 0) + (tried or 0)
        elif status in _ENDED:
            ended[(status, kind)] = ended.get((status, kind), 0) + count
    done = CounterMetricFamily(
        "tani_alerts_deliveries",
        "notifications that ended: sent, failed (gave up) or cancelled, by channel kind",
        labels=["outcome", "channel"],
    )
    for (status, kind), count in sorted(ended.items()):
        done.add_metric([status, kind], count)
    waiting = GaugeMetricFamily(
        "tani_alerts_deliveries_pending",
        "notifications queued and not yet sent, by channel kind",
        labels=["channel"],
    )
    failing = GaugeMetricFamily(
        "tani_alerts_deliveries_retrying",
        "queued notifications whose last try failed and that will be tried again",
        labels=["channel"],
    )
    for kind in sorted(pending):
        waiting.add_metric([kind], pending[kind])
        failing.add_metric([kind], retrying[kind])
    yield from (done, waiting, failing)


class AlertsMetrics(MetricsEndpoint):
    """The registry of the alerts service, and its HTTP endpoint once served."""

    def __init__(self, registry: Registry) -> None:
        super().__init__()
        self.registry.register(_RegistryCollector(registry))
        self._passes = Counter(
            "tani_alerts_evaluation_passes",
            "evaluation passes over every rule; failed: the pass raised",
            ["outcome"],
            registry=self.registry,
        )
        for outcome in ("ok", "failed"):
            self._passes.labels(outcome)  # both shown from the start, at 0
        self._rules_skipped = Counter(
            "tani_alerts_rules_not_evaluated",
            "rules a pass skipped because InfluxDB did not answer",
            registry=self.registry,
        )
        self._pass_seconds = Histogram(
            "tani_alerts_evaluation_seconds",
            "time of one evaluation pass",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=self.registry,
        )

    def evaluation_pass(self, report: EvaluationReport | None, seconds: float) -> None:
        """Count and time one pass; ``report`` is None when the pass raised."""
        self._passes.labels("ok" if report is not None else "failed").inc()
        if report is not None:
            self._rules_skipped.inc(len(report.failed_rules))
        self._pass_seconds.observe(seconds)
