"""Alert notifications through real apprise to real receivers on 127.0.0.1.

An SMTP server (aiosmtpd) reached by an apprise ``mailto://`` URL and an HTTP webhook
(http.server) reached by a ``json://`` URL. The dispatcher's clock is the test's: quiet hours,
retries and escalation are reached by moving it, never by sleeping.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.apprise_send import apprise_send
from alerts.delivery import Dispatcher, DispatchReport
from alerts.messages import render
from alerts.sms import sms_parts
from registry.alerting import Delivery, DeliveryAttempt, RuleKind
from registry.store import Registry
from tests.integration.receivers import Inbox, Webhook, smtp_url
from tests.unit.test_alert_delivery import (
    HOUR_MS,
    SETTINGS,
    Clock,
    attempts,
    change_alert,
    deliveries,
    raise_alert,
    seed_site,
    wib_ms,
)
from tests.unit.test_alert_messages import make_alert, make_context

pytestmark = pytest.mark.integration


@pytest.fixture
def inbox(free_port: Callable[[], int]) -> Iterator[tuple[Inbox, str]]:
    """A running SMTP server and the apprise URL that reaches it (plain SMTP, no login)."""
    handler = Inbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, smtp_url(port)
    finally:
        controller.stop()


@pytest.fixture
def webhook(free_port: Callable[[], int]) -> Iterator[Webhook]:
    """A webhook receiver on a free port, not started."""
    receiver = Webhook(free_port())
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture
def registry_path(tmp_path: Path) -> Path:
    """Where the test's registry lives."""
    return tmp_path / "r.db"


def open_registry(path: Path, *, officer_url: str, office_url: str) -> Registry:
    """The Karang Agung site, with these channel URLs for the officer and the village office."""
    registry = Registry.from_path(path)
    seed_site(registry, officer_url=officer_url, office_url=office_url)
    return registry


def test_delivered_by_email_in_indonesian_with_the_link(
    registry_path: Path, inbox: tuple[Inbox, str], free_port: Callable[[], int]
) -> None:
    handler, url = inbox
    registry = open_registry(registry_path, officer_url=url, office_url=smtp_url(free_port()))
    try:
        clock = Clock(wib_ms(12, 9))
        raise_alert(registry, clock.now_ms)
        assert Dispatcher(registry, SETTINGS, clock=clock).run_once() == DispatchReport(sent=1)
        [delivery] = deliveries(registry)
    finally:
        registry.close()

    [(subject, body)] = handler.texts()
    assert subject == "[WASPADA] Kelembapan tanah 14,2% < 18% - Sawah Utara"
    assert body == (
        "WASPADA: Kelembapan tanah 14,2% < 18% sejak 08:30 WIB. "
        "Sawah Utara (Budi Santoso), Karang Agung. "
        f"Konfirmasi: http://tani.lan/a/{delivery.ack_token}"
    )
    assert handler.messages[0]["To"] == "ppl@example.id"


def test_delivered_to_a_webhook_after_it_comes_up(
    registry_path: Path, webhook: Webhook, inbox: tuple[Inbox, str]
) -> None:
    registry = open_registry(registry_path, officer_url=webhook.url, office_url=inbox[1])
    try:
        clock = Clock(wib_ms(12, 9))
        raise_alert(registry, clock.now_ms)
        dispatcher = Dispatcher(registry, SETTINGS, clock=clock)

        assert dispatcher.run_once() == DispatchReport(retried=1)  # nobody listening yet
        [delivery] = deliveries(registry)
        assert delivery.status == "pending"
        assert delivery.last_error is not None
        assert "Connection refused" in delivery.last_error
        [failed] = attempts(registry, delivery.id)
        assert (failed.outcome, failed.detail) == ("failed", delivery.last_error)

        webhook.start()
        assert dispatcher.run_once() == DispatchReport()  # the retry is not due yet
        clock.now_ms = delivery.next_attempt_ms
        assert dispatcher.run_once() == DispatchReport(sent=1)
        [delivery] = deliveries(registry)
        assert [a.outcome for a in attempts(registry, delivery.id)] == ["failed", "sent"]
    finally:
        registry.close()

    [post] = webhook.received
    assert post["title"] == "[WASPADA] Kelembapan tanah 14,2% < 18% - Sawah Utara"
    assert post["message"].startswith("WASPADA: Kelembapan tanah 14,2% < 18% sejak 08:30 WIB")
    assert post["message"].endswith(f"/a/{delivery.ack_token}")


def test_a_receiver_that_never_answers_times_out_with_the_reason(
    registry_path: Path, inbox: tuple[Inbox, str]
) -> None:
    # A listening socket nobody accepts from: connects, then never answers.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        url = f"json://127.0.0.1:{silent.getsockname()[1]}/hook"
        registry = open_registry(registry_path, officer_url=url, office_url=inbox[1])
        try:
            clock = Clock(wib_ms(12, 9))
            raise_alert(registry, clock.now_ms)
            settings = SETTINGS.model_copy(update={"send_timeout_s": 0.5})
            report = Dispatcher(registry, settings, clock=clock).run_once()
            [delivery] = deliveries(registry)
        finally:
            registry.close()
    assert report == DispatchReport(retried=1)
    assert delivery.last_error is not None
    assert "timed out" in delivery.last_error


def test_held_through_quiet_hours_then_sent(
    registry_path: Path, webhook: Webhook, inbox: tuple[Inbox, str]
) -> None:
    webhook.start()
    registry = open_registry(registry_path, officer_url=webhook.url, office_url=inbox[1])
    try:
        clock = Clock(wib_ms(12, 22))
        raise_alert(registry, clock.now_ms)
        settings = SETTINGS.model_copy(update={"escalate_after_s": 0})
        dispatcher = Dispatcher(registry, settings, clock=clock)

        assert dispatcher.run_once() == DispatchReport(held=1)
        assert webhook.received == []
        clock.now_ms = wib_ms(13, 5, 59)
        assert dispatcher.run_once() == DispatchReport()
        clock.now_ms = wib_ms(13, 6)
        assert dispatcher.run_once() == DispatchReport(sent=1)
        [delivery] = deliveries(registry)
        assert [a.outcome for a in attempts(registry, delivery.id)] == ["held", "sent"]
    finally:
        registry.close()
    [post] = webhook.received
    # Sent the next morning: the time it began carries its date.
    assert "sejak 12 Mar 21:30 WIB" in post["message"]


def test_escalated_to_the_village_office_unless_acknowledged(
    registry_path: Path, webhook: Webhook, inbox: tuple[Inbox, str]
) -> None:
    handler, office_url = inbox
    webhook.start()
    registry = open_registry(registry_path, officer_url=webhook.url, office_url=office_url)
    try:
        clock = Clock(wib_ms(12, 9))
        ignored = raise_alert(registry, clock.now_ms)
        handled = raise_alert(registry, clock.now_ms, severity="critical")
        dispatcher = Dispatcher(registry, SETTINGS, clock=clock)
        assert dispatcher.run_once() == DispatchReport(sent=2)
        change_alert(registry, handled, "acknowledge", clock.now_ms + 10 * 60_000)

        clock.now_ms += SETTINGS.escalate_after_s * 1000 - 1
        assert dispatcher.run_once() == DispatchReport()
        clock.now_ms += 1
        assert dispatcher.run_once() == DispatchReport(sent=1, escalated=1)
        clock.now_ms += 3 * HOUR_MS
        assert dispatcher.run_once() == DispatchReport()

        with Session(registry.engine) as session:
            escalations = session.scalars(
                select(Delivery).where(Delivery.purpose == "escalated")
            ).all()
            logged = session.scalars(select(DeliveryAttempt.outcome)).all()
    finally:
        registry.close()

    [escalation] = escalations
    assert escalation.alert_id == ignored
    assert len(webhook.received) == 2  # the officer heard of both alerts
    [(subject, body)] = handler.texts()  # the office, of the ignored one only
    assert subject.startswith("[WASPADA, belum ditangani] Kelembapan tanah 14,2% < 18%")
    assert body.startswith("WASPADA, belum ditangani: Kelembapan tanah 14,2% < 18% sejak 08:30")
    assert body.endswith(f"http://tani.lan/a/{escalation.ack_token}")
    assert logged == ["sent", "sent", "sent"]


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_an_sms_channel_gets_the_one_sms_body_without_the_title(webhook: Webhook) -> None:
    """apprise puts "title\\r\\nbody" into channels without titles: for SMS that was a 2- or
    3-part UCS-2 message (the title keeps "°C") where the body alone is one GSM-7 SMS."""
    webhook.start()
    alert = make_alert(RuleKind.ABOVE, quantity="air_temperature", value=36.5, threshold=35.0)
    message = render(alert, "opened", language="id", context=make_context())
    # SMSEagle: an SMS gateway on the local network, spoken to over HTTP.
    apprise_send(f"smseagle://token@127.0.0.1:{webhook.port}/+6281234567890", message, 5)
    texts = [s for posted in webhook.received for s in _strings(posted) if "36,5" in s]
    assert texts == [message.body]
    assert sms_parts(texts[0]) == 1
