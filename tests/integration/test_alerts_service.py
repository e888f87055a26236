"""The alerts service as ``tani alerts run`` runs it, end to end on real processes.

Readings go gateway -> Mosquitto -> ingest -> influxd; the service (status watcher, evaluator,
dispatcher, each on its own loop and the wall clock) raises the alert and apprise delivers it to
a real webhook receiver, escalates it by e-mail to a real SMTP server, and reports resolution.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.config import AlertsConfig, DeliverySettings, EvaluationSettings, InfluxSettings
from alerts.config import MqttSettings as AlertsMqtt
from alerts.evaluator import wall_ms
from alerts.service import AlertsService
from registry.alerting import AlertRule, RuleState
from registry.people import Channel
from tani.stack import Stack
from tests.integration.alerts_support import MINUTE_MS, AlertSite, alert_site
from tests.integration.receivers import Inbox, Webhook, smtp_url
from tests.integration.support import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def webhook(free_port: Callable[[], int]) -> Iterator[Webhook]:
    receiver = Webhook(free_port())
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture
def inbox(free_port: Callable[[], int]) -> Iterator[tuple[Inbox, str]]:
    handler, port = Inbox(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, smtp_url(port)
    finally:
        controller.stop()


def _config(stack: Stack, site: AlertSite) -> AlertsConfig:
    user = stack.add_mqtt_user("alerts-svc", "service")
    return AlertsConfig(
        mqtt=AlertsMqtt(
            host=stack.mqtt_host,
            port=stack.mqtt_port,
            username=user.username,
            password=user.password,
            client_id=f"alerts-{site.gateway_id}",
        ),
        influx=InfluxSettings(url=stack.influx_url, database=site.database),
        evaluation=EvaluationSettings(every_s=0.3, clear_hold_s=600),
        delivery=DeliverySettings(
            public_url="http://tani.desa",
            every_s=0.2,
            quiet_hours=False,
            escalate_after_s=3,
        ),
        registry_url=site.registry_url,
        metrics_port=0,
    )


def _evaluated_up_to(site: AlertSite, time_ms: int) -> bool:
    with Session(site.registry.engine) as session:
        last = session.scalar(select(RuleState.last_time_ms))
        return last is not None and last >= time_ms


def _scrape(service: AlertsService) -> set[str]:
    url = f"http://127.0.0.1:{service.metrics.port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        return set(response.read().decode().splitlines())


def test_dry_field_is_notified_once_escalated_by_email_and_resolved_on_rain(
    stack: Stack, tmp_path: Path, webhook: Webhook, inbox: tuple[Inbox, str]
) -> None:
    handler, office_url = inbox
    with alert_site(stack, tmp_path, channel_url=webhook.url) as site:
        with Session(site.registry.engine) as session, session.begin():
            session.add(
                AlertRule(
                    name="tanah-kering-padi",
                    kind="below",
                    quantity="soil_moisture",
                    threshold=18.0,
                    clear_threshold=22.0,
                    duration_s=30 * 60,
                    scope="crop",
                    scope_value="padi",
                )
            )
            session.add(
                Channel(
                    name="Kantor desa", url=office_url, village_id="bumi-agung", escalation=True
                )
            )
        service = AlertsService(_config(stack, site))
        service.start()
        try:
            t0 = wall_ms() - 3 * 3600_000
            site.publish(t0, [15.0] * 7)  # 30 minutes dry
            wait_for(lambda: len(webhook.received) == 1, what="the officer's webhook message")
            [post] = webhook.received
            assert post["message"].startswith("WASPADA: Kelembapan tanah 15% < 18% sejak ")
            assert "Sawah Budi" in post["message"] and "http://tani.desa/a/" in post["message"]

            # Nobody acknowledges: after 3 s the village office is told, by e-mail.
            wait_for(lambda: len(handler.messages) == 1, what="escalation e-mail")
            [(_subject, body)] = handler.texts()
            assert "belum ditangani" in body, body

            # Flapping around the threshold: evaluated, and nobody is told again.
            last = site.publish(t0 + 35 * MINUTE_MS, [18.5, 17.5, 19.0, 17.9, 18.2, 17.0])
            wait_for(lambda: _evaluated_up_to(site, last), what="flapping readings evaluated")
            assert len(webhook.received) == 1

            last = site.publish(t0 + 65 * MINUTE_MS, [34.0, 35.0, 36.0])  # rain, 10 min wet
            wait_for(lambda: len(webhook.received) == 2, what="the resolution message")
            assert webhook.received[1]["message"].startswith("SELESAI")
            assert [a.state for a in site.alerts()] == ["resolved"]

            # The same story in the service's Prometheus metrics, once the dispatcher has
            # recorded what it sent (the resolution e-mail too).
            expected = {
                'tani_alerts_opened_total{kind="below",severity="warning"} 1.0',
                'tani_alerts_escalated_total{kind="below",severity="warning"} 1.0',
                'tani_alerts_resolved_total{kind="below",severity="warning"} 1.0',
                'tani_alerts_deliveries_total{channel="json",outcome="sent"} 2.0',
                'tani_alerts_deliveries_total{channel="mailto",outcome="sent"} 2.0',
            }
            wait_for(lambda: expected <= _scrape(service), what="the alerts metrics")
            assert any(
                line.startswith('tani_alerts_evaluation_passes_total{outcome="ok"}')
                for line in _scrape(service)
            )
        finally:
            service.stop()
