"""The alerts service's Prometheus metrics (alerts/metrics.py), scraped over HTTP.

Alerts and deliveries come from a real SQLite registry that the real dispatcher and lifecycle
change; evaluation passes from the real evaluator's loop (its InfluxDB is unreachable, so each
pass skips the readings rule, as it does when InfluxDB is down).
"""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from alerts.config import EvaluationSettings
from alerts.evaluator import Evaluator
from alerts.metrics import AlertsMetrics, channel_kind
from registry.store import Registry
from storage.influx import InfluxDB
from tests.unit.test_alert_delivery import (
    HOUR_MS,
    OFFICE_URL,
    OFFICER_URL,
    Clock,
    FakeSend,
    change_alert,
    make_dispatcher,
    raise_alert,
    seed_site,
    wib_ms,
)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    """A registry holding the Karang Agung site: officer on a webhook, office by e-mail."""
    opened = Registry.from_path(tmp_path / "r.db")
    seed_site(opened, officer_url=OFFICER_URL, office_url=OFFICE_URL)
    yield opened
    opened.close()


@pytest.fixture
def metrics(registry: Registry) -> Iterator[AlertsMetrics]:
    """The service's metrics on a free port, closed afterwards."""
    served = AlertsMetrics(registry)
    served.serve("127.0.0.1", 0)
    yield served
    served.close()


def _scrape(metrics: AlertsMetrics) -> Samples:
    url = f"http://127.0.0.1:{metrics.port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _get(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_alerts_and_deliveries_through_their_life(
    registry: Registry, metrics: AlertsMetrics
) -> None:
    clock, send = Clock(wib_ms(12, 9)), FakeSend(failing={OFFICER_URL: "connection refused"})
    dispatcher = make_dispatcher(registry, clock, send)
    alert_id = raise_alert(registry, clock.now_ms)
    warning = {"severity": "warning", "kind": "below"}

    dispatcher.run_once()  # the officer's webhook is down: retried later
    samples = _scrape(metrics)
    assert _get(samples, "tani_alerts_opened_total", **warning) == 1
    assert _get(samples, "tani_alerts_open", **warning) == 1
    assert _get(samples, "tani_alerts_deliveries_pending", channel="json") == 1
    assert _get(samples, "tani_alerts_deliveries_retrying", channel="json") == 1
    assert _get(samples, "tani_alerts_deliveries_total", outcome="sent", channel="json") == 0

    send.failing.clear()
    clock.now_ms += HOUR_MS
    dispatcher.run_once()  # sent
    clock.now_ms += 2 * HOUR_MS
    dispatcher.run_once()  # nobody acknowledged: the office is told by e-mail
    samples = _scrape(metrics)
    assert _get(samples, "tani_alerts_deliveries_total", outcome="sent", channel="json") == 1
    assert _get(samples, "tani_alerts_deliveries_total", outcome="sent", channel="mailto") == 1
    assert _get(samples, "tani_alerts_deliveries_pending", channel="json") == 0
    assert _get(samples, "tani_alerts_escalated_total", **warning) == 1
    assert _get(samples, "tani_alerts_resolved_total", **warning) == 0

    change_alert(registry, alert_id, "resolve", clock.now_ms)
    samples = _scrape(metrics)
    assert _get(samples, "tani_alerts_resolved_total", **warning) == 1
    assert _get(samples, "tani_alerts_open", **warning) == 0
    # Both who were told hear it is over.
    assert _get(samples, "tani_alerts_deliveries_pending", channel="json") == 1
    assert _get(samples, "tani_alerts_deliveries_pending", channel="mailto") == 1

    critical = raise_alert(registry, clock.now_ms, severity="critical")
    change_alert(registry, critical, "acknowledge", clock.now_ms)
    make_dispatcher(
        registry, clock, FakeSend(failing={OFFICER_URL: "gone"}), max_attempts=1
    ).run_once()
    samples = _scrape(metrics)
    assert _get(samples, "tani_alerts_opened_total", severity="critical", kind="below") == 1
    assert _get(samples, "tani_alerts_open", severity="critical", kind="below") == 1
    # The officer's webhook is gone for good: the critical opening and the first alert's
    # resolution notice fail; the office's e-mail of the resolution goes out.
    assert _get(samples, "tani_alerts_deliveries_total", outcome="failed", channel="json") == 2
    assert _get(samples, "tani_alerts_deliveries_total", outcome="sent", channel="mailto") == 2
    assert _get(samples, "tani_alerts_deliveries_pending", channel="json") == 0
    # URLs (and the tokens they may hold) never become labels.
    assert not any("example" in value for _, labels in samples for _, value in labels)


def test_channel_kind_is_the_scheme_or_other() -> None:
    assert channel_kind("tgram://123:abc/456") == "tgram"
    assert channel_kind("MAILTO://x@y") == "mailto"
    assert channel_kind("no scheme here") == "other"
    assert channel_kind("we!rd://x") == "other"


def test_evaluation_passes_are_counted_and_timed(
    registry: Registry, metrics: AlertsMetrics
) -> None:
    raise_alert(registry, wib_ms(12, 9))  # its rule reads InfluxDB, which is not there
    influx = InfluxDB("http://127.0.0.1:9", "tani")
    calls = 0
    enough = threading.Event()

    def clock() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("a bug in the first pass")
        if calls == 4:
            enough.set()
        return wib_ms(12, 9)

    evaluator = Evaluator(
        registry,
        influx,
        EvaluationSettings(every_s=0.01),
        clock=clock,
        on_pass=metrics.evaluation_pass,
    )
    stop = threading.Event()
    thread = threading.Thread(target=evaluator.run_forever, args=(stop,))
    thread.start()
    try:
        assert enough.wait(10)
    finally:
        stop.set()
        thread.join(timeout=10)
        influx.close()
    samples = _scrape(metrics)
    failed = _get(samples, "tani_alerts_evaluation_passes_total", outcome="failed")
    ok = _get(samples, "tani_alerts_evaluation_passes_total", outcome="ok")
    assert failed == 1 and ok >= 2
    assert _get(samples, "tani_alerts_rules_not_evaluated_total") == ok
    assert _get(samples, "tani_alerts_evaluation_seconds_count") == ok + failed
