"""The life of an alert: opened once, acknowledged by a person, resolved when the condition clears.

Every change is one transaction with its history event and the notifications it queues, so an
alert never moves without the people who should hear about it being queued for it. Callers pass
``now_ms`` (epoch milliseconds) so the evaluator, the API and the tests agree on time.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from registry.alerting import (
    Alert,
    AlertEvent,
    AlertRule,
    AlertState,
    Delivery,
    DeliveryStatus,
)
from registry.models import Field, Gateway
from registry.people import Channel, Role, User, officer_villages

log = logging.getLogger(__name__)


class AlertTransitionError(Exception):
    """A change the alert's state does not allow (e.g. acknowledging a resolved alert)."""


class Purpose:
    """Why a notification is sent."""

    OPENED = "opened"
    ESCALATED = "escalated"
    RESOLVED = "resolved"


ACK_TOKEN_BYTES = 12  # 96 bits: unguessable, and 16 characters in an SMS-sized message


def new_ack_token() -> str:
    """The secret of one message's acknowledge link."""
    return secrets.token_urlsafe(ACK_TOKEN_BYTES)


@dataclass(frozen=True, slots=True)
class Subject:
    """What an alert is about: a series, a device or a gateway, and where it is."""

    key: str
    gateway_id: str
    device_id: str | None = None
    quantity: str | None = None
    field_id: str | None = None
    village_id: str | None = None


def open_alert(
    session: Session,
    rule: AlertRule,
    subject: Subject,
    *,
    since_ms: int,
    value: float | None,
    now_ms: int,
) -> Alert:
    """Raise a new alert and queue its notifications."""
    alert = Alert(
        rule_id=rule.id,
        rule_name=rule.name,
        kind=rule.kind,
        severity=rule.severity,
        subject=subject.key,
        gateway_id=subject.gateway_id,
        device_id=subject.device_id,
        quantity=subject.quantity,
        field_id=subject.field_id,
        village_id=subject.village_id or _gateway_village(session, subject.gateway_id),
        state=AlertState.OPEN.value,
        since_ms=since_ms,
        opened_ms=now_ms,
        value=value,
        threshold=rule.threshold,
        last_value=value,
    )
    session.add(alert)
    session.flush()
    _event(session, alert, now_ms, "opened", detail=None if value is None else f"value={value}")
    channels = opening_recipients(session, alert)
    for channel in channels:
        _queue(session, alert, channel, Purpose.OPENED, now_ms)
    log.info(
        "alert opened",
        extra={
            "alert_id": alert.id,
            "rule": rule.name,
            "subject": subject.key,
            "gateway_id": subject.gateway_id,
            "device_id": subject.device_id,
            "field_id": alert.field_id,
            "village_id": alert.village_id,
            "recipients": len(channels),
        },
    )
    return alert


def acknowledge(
    session: Session, alert: Alert, *, user_id: int | None, now_ms: int, note: str | None = None
) -> None:
    """A person says "I am on it": escalation stops; the alert stays until the condition clears."""
    if alert.state == AlertState.RESOLVED.value:
        raise AlertTransitionError(
            f"Peringatan {alert.id} sudah selesai / alert {alert.id} is already resolved"
        )
    if alert.state == AlertState.ACKNOWLEDGED.value:
        return
    alert.state = AlertState.ACKNOWLEDGED.value
    alert.acknowledged_ms = now_ms
    alert.acknowledged_by = user_id
    _event(session, alert, now_ms, "acknowledged", user_id=user_id, detail=note)
    log.info("alert acknowledged", extra={"alert_id": alert.id, "user_id": user_id})


def resolve(
    session: Session,
    alert: Alert,
    *,
    now_ms: int,
    user_id: int | None = None,
    note: str | None = None,
) -> None:
    """Close an alert: by the evaluator when the condition cleared, or by a person (user_id).

    Notifications not sent yet are cancelled (the news is gone); whoever was told of the
    opening hears it is over.
    """
    if alert.state == AlertState.RESOLVED.value:
        return
    alert.state = AlertState.RESOLVED.value
    alert.resolved_ms = now_ms
    alert.resolved_by = user_id
    _event(session, alert, now_ms, "resolved", user_id=user_id, detail=note)
    told: set[int] = set()
    for delivery in session.scalars(select(Delivery).where(Delivery.alert_id == alert.id)):
        if delivery.status == DeliveryStatus.PENDING.value:
            delivery.status = DeliveryStatus.CANCELLED.value
            delivery.last_error = "alert resolved before it was sent"
        elif delivery.status == DeliveryStatus.SENT.value:
            told.add(delivery.channel_id)
    for channel_id in sorted(told):
        channel = session.get(Channel, channel_id)
        if channel is not None and channel.enabled:
            _queue(session, alert, channel, Purpose.RESOLVED, now_ms)
    log.info("alert resolved", extra={"alert_id": alert.id, "user_id": user_id})


def tell_resolved_late(session: Session, alert: Alert, channel_id: int, now_ms: int) -> bool:
    """A message about an alert went out after the alert was resolved (it was on the wire as
    ``resolve`` ran): queue that channel its resolution notice too, once. True if queued."""
    if alert.state != AlertState.RESOLVED.value:
        return False
    already = session.scalar(
        select(Delivery.id).where(
            Delivery.alert_id == alert.id,
            Delivery.channel_id == channel_id,
            Delivery.purpose == Purpose.RESOLVED,
        )
    )
    channel = session.get(Channel, channel_id)
    if already is not None or channel is None or not channel.enabled:
        return False
    _queue(session, alert, channel, Purpose.RESOLVED, now_ms)
    return True


def escalate_due(session: Session, *, now_ms: int, after_s: int) -> list[Alert]:
    """Tell the village office of every alert left unacknowledged for ``after_s`` seconds.

    The time counts from when the first opening message went out, not from the opening: a
    warning held through quiet hours must reach the officer before it reaches the office. An
    alert nobody could be told of (no opening recipients) counts from its opening.
    """
    if after_s <= 0:
        return []
    cutoff = now_ms - after_s * 1000
    candidates = session.scalars(
        select(Alert).where(
            Alert.state == AlertState.OPEN.value,
            Alert.escalated_ms.is_(None),
            Alert.opened_ms <= cutoff,
        )
    ).all()
    due = [alert for alert in candidates if _told_before(session, alert, cutoff)]
    for alert in due:
        alert.escalated_ms = now_ms
        channels = escalation_recipients(session, alert)
        _event(session, alert, now_ms, "escalated", detail=f"{len(channels)} channel(s)")
        for channel in channels:
            _queue(session, alert, channel, Purpose.ESCALATED, now_ms)
        log.warning(
            "alert escalated: nobody acknowledged",
            extra={"alert_id": alert.id, "village_id": alert.village_id},
        )
    return due


def _told_before(session: Session, alert: Alert, cutoff_ms: int) -> bool:
    """Whether the opening reached someone by ``cutoff_ms``, or could reach nobody at all."""
    openings = session.execute(
        select(Delivery.status, Delivery.sent_ms).where(
            Delivery.alert_id == alert.id, Delivery.purpose == Purpose.OPENED
        )
    ).all()
    sent = [sent_ms for status, sent_ms in openings if status == DeliveryStatus.SENT.value]
    if sent:
        return min(sent) <= cutoff_ms
    return not any(status == DeliveryStatus.PENDING.value for status, _ in openings)


def opening_recipients(session: Session, alert: Alert) -> list[Channel]:
    """Channels told when an alert opens: the village's officers and (non-escalation) channels,
    and the field's owner. An alert from nowhere known goes to the admins."""
    owners: list[int] = []
    if alert.field_id is not None:
        owner = session.scalar(select(Field.owner_id).where(Field.id == alert.field_id))
        if owner is not None:
            owners.append(owner)
    if alert.village_id is None:
        return _admin_channels(session)
    officers = select(officer_villages.c.user_id).where(
        officer_villages.c.village_id == alert.village_id
    )
    query = select(Channel).where(
        Channel.enabled.is_(True),
        or_(
            Channel.user_id.in_(officers),
            Channel.user_id.in_(owners),
            (Channel.village_id == alert.village_id) & Channel.escalation.is_(False),
        ),
    )
    return _active_only(session, list(session.scalars(query.order_by(Channel.id))))


def escalation_recipients(session: Session, alert: Alert) -> list[Channel]:
    """Channels told when nobody acknowledged: the village office's people and escalation
    channels; the admins when the village has neither."""
    if alert.village_id is not None:
        office = select(User.id).where(
            User.role == Role.VILLAGE_OFFICE.value, User.village_id == alert.village_id
        )
        query = select(Channel).where(
            Channel.enabled.is_(True),
            or_(
                Channel.user_id.in_(office),
                (Channel.village_id == alert.village_id) & Channel.escalation.is_(True),
            ),
        )
        channels = _active_only(session, list(session.scalars(query.order_by(Channel.id))))
        if channels:
            return channels
    return _admin_channels(session)


def _admin_channels(session: Session) -> list[Channel]:
    users = select(User.id).where(User.role == Role.ADMIN.value)
    query = select(Channel).where(Channel.enabled.is_(True), Channel.user_id.in_(users))
    return _active_only(session, list(session.scalars(query.order_by(Channel.id))))


def _active_only(session: Session, channels: list[Channel]) -> list[Channel]:
    """Drop channels of deactivated people (village channels have no person)."""
    result = []
    for channel in channels:
        if channel.user_id is not None:
            user = session.get(User, channel.user_id)
            if user is None or not user.active:
                continue
        result.append(channel)
    return result


def _gateway_village(session: Session, gateway_id: str) -> str | None:
    return session.scalar(select(Gateway.village_id).where(Gateway.id == gateway_id))


def _queue(session: Session, alert: Alert, channel: Channel, purpose: str, now_ms: int) -> None:
    session.add(
        Delivery(
            alert_id=alert.id,
            channel_id=channel.id,
            purpose=purpose,
            status=DeliveryStatus.PENDING.value,
            attempts=0,
            created_ms=now_ms,
            next_attempt_ms=now_ms,
            ack_token=new_ack_token(),
        )
    )


def _event(
    session: Session,
    alert: Alert,
    now_ms: int,
    kind: str,
    *,
    user_id: int | None = None,
    detail: str | None = None,
) -> None:
    session.add(
        AlertEvent(alert_id=alert.id, time_ms=now_ms, kind=kind, user_id=user_id, detail=detail)
    )
