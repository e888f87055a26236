"""The dispatcher's decisions, with a fake ``send`` and a clock the test moves.

The registry is a real SQLite file; only the network edge (apprise) is replaced, except in the
bad-URL tests, which use real apprise: a URL it cannot parse never reaches the network.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts import lifecycle
from alerts.config import DeliverySettings
from alerts.delivery import Dispatcher, DispatchReport, SendResult
from alerts.messages import Message
from registry.alerting import Alert, AlertRule, Delivery, DeliveryAttempt, DeliveryStatus
from registry.models import Device, Field, Gateway, Village
from registry.people import Channel, Role, User
from registry.store import Registry

WIB = timezone(timedelta(hours=7))
HOUR_MS = 3_600_000
OFFICER_URL = "json://officer.example/hook"
OFFICE_URL = "mailto://127.0.0.1:2525?from=tani@example.id&to=kantor@example.id&mode=insecure"


def wib_ms(day: int, hour: int, minute: int = 0) -> int:
    """Epoch ms of a local (WIB) time in March 2025."""
    return int(datetime(2025, 3, day, hour, minute, tzinfo=WIB).timestamp() * 1000)


@dataclass
class Clock:
    """The dispatcher's clock; tests set ``now_ms``."""

    now_ms: int

    def __call__(self) -> int:
        return self.now_ms


@dataclass
class FakeSend:
    """Records what would go out; fails for the URLs in ``failing`` with their reason."""

    calls: list[tuple[str, Message, float]] = field(default_factory=list)
    failing: dict[str, str] = field(default_factory=dict)

    def __call__(self, url: str, message: Message, timeout_s: float) -> SendResult:
        self.calls.append((url, message, timeout_s))
        if url in self.failing:
            return SendResult(ok=False, error=self.failing[url])
        return SendResult(ok=True)

    def to(self, url: str) -> list[Message]:
        """Messages sent to ``url``."""
        return [message for sent_url, message, _ in self.calls if sent_url == url]


class Highest(random.Random):
    """Jitter at its ceiling, so backoff delays are exact."""

    def uniform(self, a: float, b: float) -> float:
        return b


def seed_site(registry: Registry, *, officer_url: str, office_url: str) -> None:
    """Karang Agung: Budi's Sawah Utara with a soil probe on the Balai Pekon gateway; officer
    Sri covers the village; the village office's escalation channel."""
    with Session(registry.engine) as session, session.begin():
        village = Village(id="karang-agung", name="Karang Agung", district="Way Kanan")
        farmer = User(
            username="budi",
            full_name="Budi Santoso",
            role=Role.FARMER.value,
            village_id=village.id,
            created_ms=0,
        )
        officer = User(
            username="sri", full_name="Sri Wahyuni", role=Role.OFFICER.value, created_ms=0
        )
        officer.villages.append(village)
        session.add_all([village, farmer, officer])
        session.flush()
        session.add(
            Field(id="sawah-utara", name="Sawah Utara", village_id=village.id, owner_id=farmer.id)
        )
        session.add(Gateway(id="gw-1", name="Balai Pekon", village_id=village.id))
        session.flush()
        session.add(Device(gateway_id="gw-1", id="probe-1", kind="soil", field_id="sawah-utara"))
        session.add(Channel(name="Sri (webhook)", url=officer_url, user_id=officer.id))
        session.add(
            Channel(
                name="Kantor pekon",
                url=office_url,
                village_id=village.id,
                escalation=True,
            )
        )


def raise_alert(registry: Registry, now_ms: int, *, severity: str = "warning") -> int:
    """Open a soil-moisture-below alert on Sawah Utara (as the evaluator would); its id."""
    with Session(registry.engine) as session, session.begin():
        name = f"kelembapan-rendah-{severity}"
        rule = session.scalar(select(AlertRule).where(AlertRule.name == name))
        if rule is None:
            rule = AlertRule(
                name=name,
                kind="below",
                quantity="soil_moisture",
                threshold=18.0,
                duration_s=1800,
                severity=severity,
            )
            session.add(rule)
            session.flush()
        subject = lifecycle.Subject(
            key="gw-1/probe-1/soil_moisture",
            gateway_id="gw-1",
            device_id="probe-1",
            quantity="soil_moisture",
            field_id="sawah-utara",
            village_id="karang-agung",
        )
        alert = lifecycle.open_alert(
            session, rule, subject, since_ms=now_ms - 1_800_000, value=14.2, now_ms=now_ms
        )
        return alert.id


def change_alert(registry: Registry, alert_id: int, action: str, now_ms: int) -> None:
    """Acknowledge or resolve an alert, as the API or the evaluator would."""
    with Session(registry.engine) as session, session.begin():
        alert = session.get_one(Alert, alert_id)
        if action == "acknowledge":
            lifecycle.acknowledge(session, alert, user_id=None, now_ms=now_ms)
        else:
            lifecycle.resolve(session, alert, now_ms=now_ms)


def deliveries(registry: Registry) -> list[Delivery]:
    """Every delivery, oldest first (detached, loaded)."""
    with Session(registry.engine) as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def attempts(registry: Registry, delivery_id: int) -> list[DeliveryAttempt]:
    """The delivery log of one delivery, oldest first."""
    with Session(registry.engine) as session:
        query = select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery_id)
        return list(session.scalars(query.order_by(DeliveryAttempt.id)))


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    """A registry holding the Karang Agung site."""
    opened = Registry.from_path(tmp_path / "r.db")
    seed_site(opened, officer_url=OFFICER_URL, office_url=OFFICE_URL)
    yield opened
    opened.close()


SETTINGS = DeliverySettings(
    public_url="http://tani.lan",
    quiet_start=time(21, 0),
    quiet_end=time(6, 0),
    utc_offset_h=7,
    retry_base_s=30,
    retry_max_s=300,
    max_attempts=4,
    send_timeout_s=7,
    escalate_after_s=2 * 3600,
)


def make_dispatcher(
    registry: Registry, clock: Clock, send: FakeSend, **settings: object
) -> Dispatcher:
    """A dispatcher on the test's clock and fake send, with SETTINGS changed by ``settings``."""
    return Dispatcher(
        registry,
        SETTINGS.model_copy(update=settings),
        clock=clock,
        send=send,
        rng=Highest(),
    )


def test_sends_each_due_delivery_once_with_the_rendered_message(registry: Registry) -> None:
    clock, send = Clock(wib_ms(12, 9)), FakeSend()
    raise_alert(registry, clock.now_ms)
    dispatcher = make_dispatcher(registry, clock, send)

    assert dispatcher.run_once() == DispatchReport(sent=1)
    assert dispatcher.run_once() == DispatchReport()

    [(url, message, timeout_s)] = send.calls
    assert (url, timeout_s) == (OFFICER_URL, 7)
    [delivery] = deliveries(registry)
    assert message.body == (
        "WASPADA: Kelembapan tanah 14,2% < 18% sejak 08:30 WIB. "
        "Sawah Utara (Budi Santoso), Karang Agung. "
        f"Konfirmasi: http://tani.lan/a/{delivery.ack_token}"
    )
    assert (delivery.status, delivery.attempts, delivery.sent_ms) == ("sent", 1, clock.now_ms)
    assert [a.outcome for a in attempts(registry, delivery.id)] == ["sent"]


def test_quiet_hours_hold_a_warning_until_quiet_end_across_midnight(registry: Registry) -> None:
    clock, send = Clock(wib_ms(12, 22)), FakeSend()
    raise_alert(registry, clock.now_ms)
    dispatcher = make_dispatcher(registry, clock, send, escalate_after_s=0)

    assert dispatcher.run_once() == DispatchReport(held=1)
    [delivery] = deliveries(registry)
    assert delivery.next_attempt_ms == wib_ms(13, 6)
    [held] = attempts(registry, delivery.id)
    assert held.outcome == "held"
    assert "quiet hours until 2025-03-13 06:00" in (held.detail or "")

    clock.now_ms = wib_ms(13, 2)  # after midnight, still quiet: not due yet
    assert dispatcher.run_once() == DispatchReport()
    clock.now_ms = wib_ms(13, 5, 59)
    assert dispatcher.run_once() == DispatchReport()
    assert send.calls == []

    clock.now_ms = wib_ms(13, 6)
    assert dispatcher.run_once() == DispatchReport(sent=1)
    assert [a.outcome for a in attempts(registry, delivery.id)] == ["held", "sent"]


def test_an_alert_raised_after_midnight_is_held_until_the_same_morning(
    registry: Registry,
) -> None:
    clock, send = Clock(wib_ms(13, 2, 30)), FakeSend()
    raise_alert(registry, clock.now_ms, severity="info")
    assert make_dispatcher(registry, clock, send).run_once() == DispatchReport(held=1)
    assert deliveries(registry)[0].next_attempt_ms == wib_ms(13, 6)


def test_a_quiet_window_within_one_day(registry: Registry) -> None:
    clock, send = Clock(wib_ms(12, 12, 30)), FakeSend()
    raise_alert(registry, clock.now_ms)
    dispatcher = make_dispatcher(
        registry, clock, send, quiet_start=time(12, 0), quiet_end=time(14, 0)
    )
    assert dispatcher.run_once() == DispatchReport(held=1)
    assert deliveries(registry)[0].next_attempt_ms == wib_ms(12, 14)
    clock.now_ms = wib_ms(12, 14)
    assert dispatcher.run_once() == DispatchReport(sent=1)


def test_quiet_hours_follow_the_utc_offset(registry: Registry) -> None:
    clock, send = Clock(wib_ms(12, 20, 30)), FakeSend()  # 21:30 WITA
    raise_alert(registry, clock.now_ms)
    assert make_dispatcher(registry, clock, send, utc_offset_h=8).run_once() == DispatchReport(
        held=1
    )
    assert deliveries(registry)[0].next_attempt_ms == wib_ms(13, 5)  # 06:00 WITA


def test_critical_breaks_quiet_hours(registry: Registry) -> None:
    clock, send = Clock(wib_ms(12, 23)), FakeSend()
    raise_alert(registry, clock.now_ms, severity="critical")
    assert make_dispatcher(registry, clock, send).run_once() == DispatchReport(sent=1)
    assert send.calls[0][1].body.startswith("KRITIS: ")


def test_no_quiet_hours_when_none_are_set(registry: Registry) -> None:
    clock, send = Clock(wib_ms(12, 23)), FakeSend()
    raise_alert(registry, clock.now_ms)
    dispatcher = make_dispatcher(registry, clock, send, quiet_hours=False)
    assert dispatcher.run_once() == DispatchReport(sent=1)


def test_failures_back_off_exponentially_up_to_the_cap_then_give_up(registry: Registry) -> None:
    clock, send = Clock(wib_ms(12, 9)), FakeSend(failing={OFFICER_URL: "connection refused"})
    raise_alert(registry, clock.now_ms)
    dispatcher = make_dispatcher(registry, clock, send, retry_base_s=30, retry_max_s=100)

    delays = []
    for _ in range(3):
        assert dispatcher.run_once() == DispatchReport(retried=1)
        [delivery] = deliveries(registry)
        delays.append(delivery.next_attempt_ms - clock.now_ms)
        assert dispatcher.run_once() == DispatchReport()  # not due yet
        clock.now_ms = delivery.next_attempt_ms
    assert delays == [30_000, 60_000, 100_000]  # 30 s, 60 s, then capped (not 120 s)

    assert dispatcher.run_once() == DispatchReport(failed=1)  # the 4th of max_attempts=4
    [delivery] = deliveries(registry)
    assert (delivery.status, delivery.attempts) == ("failed", 4)
    assert delivery.last_error == "connection refused"
    log = attempts(registry, delivery.id)
    assert [(a.outcome, a.detail) for a in log] == [("failed", "connection refused")] * 4
    clock.now_ms += HOUR_MS
    assert dispatcher.run_once() == DispatchReport()


def test_full_jitter_keeps_each_delay_between_zero_and_the_ceiling(registry: Registry) -> None:
    clock, send = Clock(wib_ms(12, 9)), FakeSend(failing={OFFICER_URL: "timed out"})
    for _ in range(20):
        raise_alert(registry, clock.now_ms)
    dispatcher = Dispatcher(registry, SETTINGS, clock=clock, send=send, rng=random.Random(5))
    assert dispatcher.run_once() == DispatchReport(retried=20)
    delays = {d.next_attempt_ms - clock.now_ms for d in deliveries(registry)}
    assert all(0 <= delay <= 30_000 for delay in delays)
    assert len(delays) > 10  # spread apart, not all at once


def test_a_recovered_channel_delivers_on_the_next_due_pass(registry: Registry) -> None:
    clock, send = Clock(wib_ms(12, 9)), FakeSend(failing={OFFICER_URL: "connection refused"})
    raise_alert(registry, clock.now_ms)
    dispatcher = make_dispatcher(registry, clock, send)
    assert dispatcher.run_once() == DispatchReport(retried=1)
    send.failing.clear()
    clock.now_ms = deliveries(registry)[0].next_attempt_ms
    assert dispatcher.run_once() == DispatchReport(sent=1)
    [delivery] = deliveries(registry)
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 2, None)


def test_the_hourly_limit_postpones_until_a_slot_frees(registry: Registry) -> None:
    with Session(registry.engine) as session, session.begin():
        session.get_one(Channel, 1).max_per_hour = 2
    clock, send = Clock(wib_ms(12, 9)), FakeSend()
    dispatcher = make_dispatcher(registry, clock, send)
    raise_alert(registry, clock.now_ms)
    assert dispatcher.run_once() == DispatchReport(sent=1)
    first_sent = clock.now_ms
    clock.now_ms += 10 * 60_000
    raise_alert(registry, clock.now_ms)
    raise_alert(registry, clock.now_ms)
    assert dispatcher.run_once() == DispatchReport(sent=1, rate_limited=1)

    waiting = deliveries(registry)[2]
    assert waiting.next_attempt_ms == first_sent + HOUR_MS
    [limited] = attempts(registry, waiting.id)
    assert limited.outcome == "rate_limited"
    assert "2 sent in the last hour" in (limited.detail or "")

    clock.now_ms = first_sent + HOUR_MS
    assert dispatcher.run_once() == DispatchReport(sent=1)
    assert len(send.to(OFFICER_URL)) == 3


def test_unacknowledged_alerts_escalate_to_the_village_office(registry: Registry) -> None:
    clock, send = Clock(wib_ms(12, 9)), FakeSend()
    raise_alert(registry, clock.now_ms)
    dispatcher = make_dispatcher(registry, clock, send)
    assert dispatcher.run_once() == DispatchReport(sent=1)

    clock.now_ms += 2 * HOUR_MS
    assert dispatcher.run_once() == DispatchReport(sent=1, escalated=1)
    [escalation] = send.to(OFFICE_URL)
    assert escalation.body.startswith("WASPADA, belum ditangani: Kelembapan tanah 14,2% < 18%")
    clock.now_ms += 2 * HOUR_MS
    assert dispatcher.run_once() == DispatchReport()  # escalated once only


def test_an_acknowledged_alert_is_not_escalated(registry: Registry) -> None:
    clock, send = Clock(wib_ms(12, 9)), FakeSend()
    alert_id = raise_alert(registry, clock.now_ms)
    dispatcher = make_dispatcher(registry, clock, send)
    dispatcher.run_once()
    change_alert(registry, alert_id, "acknowledge", clock.now_ms + 60_000)
    clock.now_ms += 3 * HOUR_MS
    assert dispatcher.run_once() == DispatchReport()
    assert send.to(OFFICE_URL) == []


def test_escalation_counts_from_when_the_officer_was_told_not_from_the_opening(
    registry: Registry,
) -> None:
    clock, send = Clock(wib_ms(12, 22)), FakeSend()
    raise_alert(registry, clock.now_ms)  # a warning at night: held until 06:00
    dispatcher = make_dispatcher(registry, clock, send)
    assert dispatcher.run_once() == DispatchReport(held=1)

    clock.now_ms = wib_ms(13, 6)  # 8 h after the opening, but the officer hears of it only now
    assert dispatcher.run_once() == DispatchReport(sent=1)
    clock.now_ms = wib_ms(13, 7, 59)
    assert dispatcher.run_once() == DispatchReport()
    assert send.to(OFFICE_URL) == []
    clock.now_ms = wib_ms(13, 8)  # two hours after the officer was told
    assert dispatcher.run_once() == DispatchReport(sent=1, escalated=1)
    assert len(send.to(OFFICE_URL)) == 1


def test_an_escalation_waiting_out_quiet_hours_is_cancelled_by_acknowledgement(
    registry: Registry,
) -> None:
    clock, send = Clock(wib_ms(12, 19)), FakeSend()
    alert_id = raise_alert(registry, clock.now_ms)
    dispatcher = make_dispatcher(registry, clock, send)
    assert dispatcher.run_once() == DispatchReport(sent=1)

    clock.now_ms = wib_ms(12, 21, 30)  # overdue, but in quiet hours
    assert dispatcher.run_once() == DispatchReport(escalated=1, held=1)
    change_alert(registry, alert_id, "acknowledge", wib_ms(12, 22))

    clock.now_ms = wib_ms(13, 6)
    assert dispatcher.run_once() == DispatchReport(cancelled=1)
    escalation = deliveries(registry)[-1]
    assert (escalation.purpose, escalation.status) == ("escalated", "cancelled")
    assert escalation.last_error == "alert acknowledged before the escalation was sent"
    assert send.to(OFFICE_URL) == []


def test_resolving_cancels_what_was_not_sent_and_tells_who_was_told(
    registry: Registry,
) -> None:
    clock, send = Clock(wib_ms(12, 9)), FakeSend()
    dispatcher = make_dispatcher(registry, clock, send, escalate_after_s=0)
    told = raise_alert(registry, clock.now_ms)
    dispatcher.run_once()

    clock.now_ms = wib_ms(12, 22)
    held = raise_alert(registry, clock.now_ms)
    assert dispatcher.run_once() == DispatchReport(held=1)
    change_alert(registry, held, "resolve", wib_ms(12, 23))
    change_alert(registry, told, "resolve", wib_ms(12, 23))

    clock.now_ms = wib_ms(13, 6)
    assert dispatcher.run_once() == DispatchReport(sent=1)
    statuses = [(d.alert_id, d.purpose, d.status) for d in deliveries(registry)]
    assert statuses == [
        (told, "opened", "sent"),
        (held, "opened", "cancelled"),
        (told, "resolved", "sent"),
    ]
    assert send.to(OFFICER_URL)[-1].body.startswith("SELESAI: Kelembapan tanah kini 14,2%")


def test_a_message_on_the_wire_while_the_alert_resolves_is_followed_by_the_resolution(
    registry: Registry,
) -> None:
    clock = Clock(wib_ms(12, 9))
    alert_id = raise_alert(registry, clock.now_ms)
    sent: list[Message] = []

    def send_while_resolving(url: str, message: Message, timeout_s: float) -> SendResult:
        if not sent:  # the evaluator resolves the alert while the opening is being sent
            change_alert(registry, alert_id, "resolve", clock.now_ms)
        sent.append(message)
        return SendResult(ok=True)

    dispatcher = Dispatcher(registry, SETTINGS, clock=clock, send=send_while_resolving)
    assert dispatcher.run_once() == DispatchReport(sent=1)
    assert dispatcher.run_once() == DispatchReport(sent=1)
    assert [(d.purpose, d.status) for d in deliveries(registry)] == [
        ("opened", "sent"),
        ("resolved", "sent"),
    ]
    assert sent[1].body.startswith("SELESAI")
    assert dispatcher.run_once() == DispatchReport()


def test_a_disabled_channel_is_cancelled_not_sent(registry: Registry) -> None:
    clock, send = Clock(wib_ms(12, 9)), FakeSend()
    raise_alert(registry, clock.now_ms)
    with Session(registry.engine) as session, session.begin():
        session.get_one(Channel, 1).enabled = False
    assert make_dispatcher(registry, clock, send).run_once() == DispatchReport(cancelled=1)
    assert send.calls == []


def test_a_url_apprise_cannot_parse_fails_at_once_with_the_reason(tmp_path: Path) -> None:
    registry = Registry.from_path(tmp_path / "r.db")
    try:
        seed_site(registry, officer_url="nonsense://bot123:SECRET@chat", office_url=OFFICE_URL)
        clock = Clock(wib_ms(12, 9))
        raise_alert(registry, clock.now_ms)
        dispatcher = Dispatcher(registry, SETTINGS, clock=clock)  # real apprise

        assert dispatcher.run_once() == DispatchReport(failed=1)
        [delivery] = deliveries(registry)
        assert delivery.status == DeliveryStatus.FAILED.value
        assert delivery.last_error is not None
        assert delivery.last_error.startswith("apprise cannot use this channel URL: ")
        assert "nonsense://" in delivery.last_error
        assert "SECRET" not in delivery.last_error  # a URL may hold a token: never repeated
        [attempt] = attempts(registry, delivery.id)
        assert (attempt.outcome, attempt.detail) == ("failed", delivery.last_error)
    finally:
        registry.close()


def test_a_send_that_raises_is_a_failed_try(registry: Registry) -> None:
    def broken(url: str, message: Message, timeout_s: float) -> SendResult:
        raise RuntimeError("plugin bug")

    clock = Clock(wib_ms(12, 9))
    raise_alert(registry, clock.now_ms)
    dispatcher = Dispatcher(registry, SETTINGS, clock=clock, send=broken)
    assert dispatcher.run_once() == DispatchReport(retried=1)
    assert deliveries(registry)[0].last_error == "RuntimeError: plugin bug"


def test_each_event_is_one_structured_log_line(
    registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    clock, send = Clock(wib_ms(12, 9)), FakeSend(failing={OFFICER_URL: "connection refused"})
    alert_id = raise_alert(registry, clock.now_ms)
    with caplog.at_level(logging.INFO, logger="alerts.delivery"):
        make_dispatcher(registry, clock, send).run_once()
    [record] = [r for r in caplog.records if r.name == "alerts.delivery"]
    assert record.getMessage() == "delivery failed, will retry"
    keys = ("alert_id", "channel_id", "delivery_id", "village_id", "purpose", "reason")
    assert {key: getattr(record, key) for key in keys} == {
        "alert_id": alert_id,
        "channel_id": 1,
        "delivery_id": 1,
        "village_id": "karang-agung",
        "purpose": "opened",
        "reason": "connection refused",
    }


def test_a_public_url_too_long_for_an_sms_is_refused_at_start(registry: Registry) -> None:
    settings = SETTINGS.model_copy(update={"public_url": "https://" + "x" * 80 + ".id"})
    with pytest.raises(ValueError, match=r"delivery\.public_url"):
        Dispatcher(registry, settings)


def test_run_forever_delivers_until_stopped(registry: Registry) -> None:
    delivered = threading.Event()

    def send(url: str, message: Message, timeout_s: float) -> SendResult:
        delivered.set()
        return SendResult(ok=True)

    clock = Clock(wib_ms(12, 9))
    raise_alert(registry, clock.now_ms)
    dispatcher = Dispatcher(
        registry, SETTINGS.model_copy(update={"every_s": 0.01}), clock=clock, send=send
    )
    stop = threading.Event()
    thread = threading.Thread(target=dispatcher.run_forever, args=(stop,))
    thread.start()
    try:
        assert delivered.wait(10)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert deliveries(registry)[0].status == "sent"
