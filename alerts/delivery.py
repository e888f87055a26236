"""Notification delivery: every queued Delivery goes out through apprise when it is due.

A pass first escalates what nobody acknowledged, then takes the due deliveries one by one:
cancel one whose news is gone, hold a non-critical one through quiet hours, postpone one past
its channel's hourly limit, or send it. The registry's SQLite file is shared with the API and
the evaluator, so no transaction stays open while a message is on the network: a delivery is
read and its message rendered in one short transaction, sent, and its result recorded in
another. Every try is in the delivery log (DeliveryAttempt) with the reason it failed or waited.
One dispatcher runs per registry.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts import lifecycle
from alerts.apprise_send import MAX_REASON, Sender, SendResult, apprise_send
from alerts.config import DeliverySettings
from alerts.local_time import local_moment
from alerts.messages import MAX_LINK, Message, MessageContext, ack_link, render
from registry.alerting import (
    Alert,
    AlertState,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Severity,
)
from registry.models import Field, Gateway, Village
from registry.people import Channel, User
from registry.store import Registry

log = logging.getLogger(__name__)

_HOUR_MS = 3_600_000
_TOKEN_CHARS = len(lifecycle.new_ack_token())
_HELD, _RATE_LIMITED = "held", "rate_limited"  # DeliveryAttempt outcomes of waiting


@dataclass(slots=True)
class DispatchReport:
    """What one pass did. ``retried`` tries failed and will be retried; ``failed`` gave up."""

    sent: int = 0
    failed: int = 0
    retried: int = 0
    held: int = 0
    rate_limited: int = 0
    cancelled: int = 0
    escalated: int = 0


@dataclass(frozen=True, slots=True)
class _Job:
    """A due delivery and its rendered message, ready to go out."""

    delivery_id: int
    url: str
    message: Message
    fields: dict[str, object]  # for log lines


def wall_ms() -> int:
    """Now, in epoch milliseconds."""
    return time.time_ns() // 1_000_000


class Dispatcher:
    """Sends queued notifications: quiet hours, hourly limits, retries with backoff."""

    def __init__(
        self,
        registry: Registry,
        settings: DeliverySettings,
        *,
        clock: Callable[[], int] = wall_ms,
        send: Sender | None = None,
        rng: random.Random | None = None,
    ) -> None:
        # An SMS needs room besides the link: refuse a public_url that leaves none, at start-up.
        if len(ack_link(settings.public_url, "x" * _TOKEN_CHARS)) > MAX_LINK:
            raise ValueError(
                f"delivery.public_url: {settings.public_url!r} is too long for an SMS link "
                f"(at most {MAX_LINK - _TOKEN_CHARS - 3} characters)"
            )
        self._registry = registry
        self._settings = settings
        self._clock = clock
        self._send = send or apprise_send
        self._rng = rng or random.Random()

    def run_once(self) -> DispatchReport:
        """Escalate what is overdue, then handle every delivery that is due now."""
        return self._pass(None)

    def run_forever(self, stop: threading.Event) -> None:
        """Deliver every ``every_s`` seconds until ``stop`` is set."""
        while not stop.is_set():
            started = time.monotonic()
            try:
                report = self._pass(stop)
            except Exception:
                # A database hiccup must not end delivery; the next pass tries again.
                log.exception("delivery pass failed")
            else:
                if any(asdict(report).values()):
                    log.info("delivery pass", extra=asdict(report))
            stop.wait(max(0.0, self._settings.every_s - (time.monotonic() - started)))

    def _pass(self, stop: threading.Event | None) -> DispatchReport:
        report = DispatchReport()
        with Session(self._registry.engine) as session, session.begin():
            escalated = lifecycle.escalate_due(
                session, now_ms=self._clock(), after_s=self._settings.escalate_after_s
            )
            report.escalated = len(escalated)
        for delivery_id in self._due(self._clock()):
            if stop is not None and stop.is_set():
                break  # the rest stay due for the next start
            self._dispatch(delivery_id, report)
        return report

    def _due(self, now_ms: int) -> list[int]:
        query = (
            select(Delivery.id)
            .where(
                Delivery.status == DeliveryStatus.PENDING.value,
                Delivery.next_attempt_ms <= now_ms,
            )
            .order_by(Delivery.next_attempt_ms, Delivery.id)
        )
        with Session(self._registry.engine) as session:
            return list(session.scalars(query))

    def _dispatch(self, delivery_id: int, report: DispatchReport) -> None:
        with Session(self._registry.engine) as session, session.begin():
            job = self._prepare(session, delivery_id, self._clock(), report)
        if job is None:
            return
        result = self._try_send(job)
        with Session(self._registry.engine) as session, session.begin():
            self._record(session, job, result, self._clock(), report)

    def _prepare(
        self, session: Session, delivery_id: int, now_ms: int, report: DispatchReport
    ) -> _Job | None:
        """Cancel, hold or postpone the delivery (and say so), or render it for sending."""
        delivery = session.get(Delivery, delivery_id)
        if (
            delivery is None
            or delivery.status != DeliveryStatus.PENDING.value
            or delivery.next_attempt_ms > now_ms
        ):
            return None  # sent, cancelled or moved since the pass listed it
        alert = session.get_one(Alert, delivery.alert_id)
        channel = session.get_one(Channel, delivery.channel_id)
        fields = _log_fields(delivery, alert)
        stale = _stale(alert, channel, delivery.purpose)
        if stale is not None:
            delivery.status = DeliveryStatus.CANCELLED.value
            delivery.last_error = stale
            report.cancelled += 1
            log.info("delivery cancelled", extra={**fields, "reason": stale})
            return None
        wait = self._wait(session, alert, channel, now_ms)
        if wait is not None:
            outcome, until_ms, detail = wait
            delivery.next_attempt_ms = until_ms
            session.add(
                DeliveryAttempt(
                    delivery_id=delivery.id, time_ms=now_ms, outcome=outcome, detail=detail
                )
            )
            if outcome == _HELD:
                report.held += 1
            else:
                report.rate_limited += 1
            log.info(
                f"delivery {outcome}", extra={**fields, "until_ms": until_ms, "reason": detail}
            )
            return None
        context = _context(session, alert, delivery, now_ms, self._settings)
        try:
            message = render(alert, delivery.purpose, language=channel.language, context=context)
        except ValueError as exc:
            # A row no message can be made of (an unknown purpose) must not block the queue.
            delivery.status = DeliveryStatus.FAILED.value
            delivery.last_error = str(exc)
            session.add(
                DeliveryAttempt(
                    delivery_id=delivery.id, time_ms=now_ms, outcome="failed", detail=str(exc)
                )
            )
            report.failed += 1
            log.error("delivery failed, giving up", extra={**fields, "reason": str(exc)})
            return None
        return _Job(delivery.id, channel.url, message, fields)

    def _wait(
        self, session: Session, alert: Alert, channel: Channel, now_ms: int
    ) -> tuple[str, int, str] | None:
        """Whether to wait instead of sending now: (outcome, until when, why), or None.

        Quiet hours hold all but critical alerts; a channel's hourly limit holds everything.
        """
        offset = self._settings.utc_offset_h
        if alert.severity != Severity.CRITICAL.value:
            quiet_end = _quiet_until(now_ms, self._settings)
            if quiet_end is not None:
                return _HELD, quiet_end, f"quiet hours until {_local(quiet_end, offset)}"
        slot = _free_slot(session, channel, now_ms)
        if slot is not None:
            why = f"{channel.max_per_hour} sent in the last hour"
            return _RATE_LIMITED, slot, f"{why}; a slot frees at {_local(slot, offset)}"
        return None

    def _try_send(self, job: _Job) -> SendResult:
        try:
            return self._send(job.url, job.message, self._settings.send_timeout_s)
        except Exception as exc:
            # A notification plugin's bug is this delivery's failure, not the whole pass's.
            return SendResult(ok=False, error=f"{type(exc).__name__}: {exc}"[:MAX_REASON])

    def _record(
        self, session: Session, job: _Job, result: SendResult, now_ms: int, report: DispatchReport
    ) -> None:
        delivery = session.get(Delivery, job.delivery_id)
        if delivery is None:
            return  # the alert was deleted meanwhile
        delivery.attempts += 1
        fields = {**job.fields, "attempt": delivery.attempts}
        if result.ok:
            # Sent even if the alert was resolved meanwhile: the message did go out, so its
            # reader must also hear that it is over.
            delivery.status = DeliveryStatus.SENT.value
            delivery.sent_ms = now_ms
            delivery.last_error = None
            session.add(DeliveryAttempt(delivery_id=delivery.id, time_ms=now_ms, outcome="sent"))
            report.sent += 1
            log.info("delivery sent", extra=fields)
            if delivery.purpose != lifecycle.Purpose.RESOLVED:
                alert = session.get_one(Alert, delivery.alert_id)
                lifecycle.tell_resolved_late(session, alert, delivery.channel_id, now_ms)
            return
        reason = result.error or "failed without a reason"
        delivery.last_error = reason
        session.add(
            DeliveryAttempt(
                delivery_id=delivery.id, time_ms=now_ms, outcome="failed", detail=reason
            )
        )
        if delivery.status != DeliveryStatus.PENDING.value:
            return  # cancelled while it was being sent
        if result.permanent or delivery.attempts >= self._settings.max_attempts:
            delivery.status = DeliveryStatus.FAILED.value
            report.failed += 1
            log.error("delivery failed, giving up", extra={**fields, "reason": reason})
            return
        delivery.next_attempt_ms = now_ms + self._backoff_ms(delivery.attempts)
        report.retried += 1
        log.warning(
            "delivery failed, will retry",
            extra={**fields, "reason": reason, "next_attempt_ms": delivery.next_attempt_ms},
        )

    def _backoff_ms(self, attempts: int) -> int:
        """Exponential backoff with full jitter: uniform up to base * 2^(tries-1), capped.

        Full jitter spreads the retries of many deliveries to one dead server apart.
        """
        settings = self._settings
        ceiling = min(settings.retry_max_s, settings.retry_base_s * 2 ** min(attempts - 1, 32))
        return int(self._rng.uniform(0, ceiling) * 1000)


def _log_fields(delivery: Delivery, alert: Alert) -> dict[str, object]:
    return {
        "alert_id": alert.id,
        "channel_id": delivery.channel_id,
        "delivery_id": delivery.id,
        "village_id": alert.village_id,
        "purpose": delivery.purpose,
    }


def _stale(alert: Alert, channel: Channel, purpose: str) -> str | None:
    """Why a delivery is no longer worth sending, or None."""
    if not channel.enabled:
        return "channel disabled"
    if purpose == lifecycle.Purpose.ESCALATED and alert.state != AlertState.OPEN.value:
        return f"alert {alert.state} before the escalation was sent"
    if purpose != lifecycle.Purpose.RESOLVED and alert.state == AlertState.RESOLVED.value:
        return "alert resolved before it was sent"
    return None


def _quiet_until(now_ms: int, settings: DeliverySettings) -> int | None:
    """When the quiet hours ``now_ms`` falls in end (epoch ms); None outside quiet hours.

    The window is in local time and may cross midnight (21:00-06:00).
    """
    if not settings.quiet_hours:
        return None
    start, end = settings.quiet_start, settings.quiet_end
    local = local_moment(now_ms, settings.utc_offset_h)
    now = local.time()
    quiet = start <= now < end if start < end else (now >= start or now < end)
    if not quiet:
        return None
    until = local.replace(hour=end.hour, minute=end.minute, second=end.second, microsecond=0)
    if until <= local:
        until += timedelta(days=1)
    return int(until.timestamp() * 1000)


def _free_slot(session: Session, channel: Channel, now_ms: int) -> int | None:
    """When the channel may send again (epoch ms), or None if it may send now."""
    limit = max(1, channel.max_per_hour)  # a limit of 0 would mute the channel forever
    newest = session.scalars(
        select(Delivery.sent_ms)
        .where(
            Delivery.channel_id == channel.id,
            Delivery.status == DeliveryStatus.SENT.value,
            Delivery.sent_ms > now_ms - _HOUR_MS,
        )
        .order_by(Delivery.sent_ms.desc())
        .limit(limit)
    ).all()
    if len(newest) < limit:
        return None
    # A slot frees when the oldest of the last ``limit`` sends leaves the hour.
    return newest[-1] + _HOUR_MS


def _context(
    session: Session, alert: Alert, delivery: Delivery, now_ms: int, settings: DeliverySettings
) -> MessageContext:
    """The registry's names for a message: field, its farmer, village, gateway."""
    field = session.get(Field, alert.field_id) if alert.field_id else None
    farmer = session.get(User, field.owner_id) if field and field.owner_id else None
    village = session.get(Village, alert.village_id) if alert.village_id else None
    gateway = session.get(Gateway, alert.gateway_id)
    return MessageContext(
        ack_url=ack_link(settings.public_url, delivery.ack_token),
        now_ms=now_ms,
        utc_offset_h=settings.utc_offset_h,
        field_name=field.name if field else None,
        farmer_name=farmer.full_name if farmer else None,
        village_name=village.name if village else None,
        device_name=alert.device_id,
        gateway_name=gateway.name if gateway else None,
    )


def _local(time_ms: int, utc_offset_h: int) -> str:
    return f"{local_moment(time_ms, utc_offset_h):%Y-%m-%d %H:%M} UTC{utc_offset_h:+d}"
