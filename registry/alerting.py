"""Alert rules and alert state (registry tables).

Rules are registry metadata the office adjusts. The evaluator's per-series state, the alerts,
their history and their deliveries live in the same database so that one transaction moves an
alert and queues its notifications, and so that all of it survives a restart. Times are epoch
milliseconds (UTC), the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from registry.models import Base


class RuleKind(StrEnum):
    """What a rule watches."""

    BELOW = "below"  # value under threshold for duration_s; clears above clear_threshold
    ABOVE = "above"  # value over threshold for duration_s; clears under clear_threshold
    RATE = "rate"  # change per hour past threshold (negative: a fall), over window_s
    NO_DATA = "no_data"  # a placed device sent nothing for duration_s
    GATEWAY_OFFLINE = "gateway_offline"  # the gateway's last will said offline for duration_s
    QUALITY_BAD = "quality_bad"  # readings flagged bad for duration_s
    WATER_STRESS = "water_stress"  # the field's water balance says the crop is stressed


class Scope(StrEnum):
    """Which fields a rule covers."""

    ALL = "all"
    VILLAGE = "village"
    CROP = "crop"
    FIELD = "field"


class Severity(StrEnum):
    """How urgent; only critical alerts break quiet hours."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class AlertState(StrEnum):
    """Lifecycle: open -> acknowledged (a person is on it) -> resolved (condition cleared)."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class DeliveryStatus(StrEnum):
    """Where a notification is on its way out."""

    PENDING = "pending"  # due at next_attempt_ms (first try, retry, quiet hours, rate limit)
    SENT = "sent"
    FAILED = "failed"  # gave up after the last retry
    CANCELLED = "cancelled"  # no longer worth sending (alert resolved before it went out)


class AlertRule(Base):
    """One rule: what to watch, where, for how long, and how urgent."""

    __tablename__ = "alert_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    quantity: Mapped[str | None] = mapped_column(String(63))
    threshold: Mapped[float | None] = mapped_column(Float)
    clear_threshold: Mapped[float | None] = mapped_column(Float)
    duration_s: Mapped[int] = mapped_column(Integer, default=0)
    window_s: Mapped[int | None] = mapped_column(Integer)
    scope: Mapped[str] = mapped_column(String(10), default=Scope.ALL.value)
    scope_value: Mapped[str | None] = mapped_column(String(63))
    severity: Mapped[str] = mapped_column(String(10), default=Severity.WARNING.value)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Where the numbers come from (an agronomy source, or who changed them and why).
    note: Mapped[str | None] = mapped_column(Text)


class RuleState(Base):
    """The evaluator's memory of one rule on one subject (a series, device or gateway)."""

    __tablename__ = "rule_states"

    rule_id: Mapped[int] = mapped_column(
        ForeignKey("alert_rules.id", ondelete="CASCADE"), primary_key=True
    )
    subject: Mapped[str] = mapped_column(String(200), primary_key=True)
    last_time_ms: Mapped[int | None] = mapped_column(BigInteger)
    condition_since_ms: Mapped[int | None] = mapped_column(BigInteger)
    clear_since_ms: Mapped[int | None] = mapped_column(BigInteger)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"))


class Alert(Base):
    """One raised condition, from opening to resolution."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_village_state", "village_id", "state"),
        Index("ix_alerts_field_opened", "field_id", "opened_ms"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("alert_rules.id", ondelete="SET NULL"))
    rule_name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    severity: Mapped[str] = mapped_column(String(10))
    subject: Mapped[str] = mapped_column(String(200))
    gateway_id: Mapped[str] = mapped_column(String(63))
    device_id: Mapped[str | None] = mapped_column(String(63))
    quantity: Mapped[str | None] = mapped_column(String(63))
    field_id: Mapped[str | None] = mapped_column(String(63))
    village_id: Mapped[str | None] = mapped_column(String(63))
    state: Mapped[str] = mapped_column(String(15), default=AlertState.OPEN.value)
    since_ms: Mapped[int] = mapped_column(BigInteger)
    opened_ms: Mapped[int] = mapped_column(BigInteger)
    value: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    last_value: Mapped[float | None] = mapped_column(Float)
    acknowledged_ms: Mapped[int | None] = mapped_column(BigInteger)
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    resolved_ms: Mapped[int | None] = mapped_column(BigInteger)
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    escalated_ms: Mapped[int | None] = mapped_column(BigInteger)


class AlertEvent(Base):
    """The history of an alert: opened, notified, acknowledged, escalated, resolved."""

    __tablename__ = "alert_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    time_ms: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    detail: Mapped[str | None] = mapped_column(Text)


class Delivery(Base):
    """One notification of one alert to one channel, with its retries."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_due", "status", "next_attempt_ms"),
        # The hourly limit counts a channel's recent sends.
        Index("ix_deliveries_channel_sent", "channel_id", "status", "sent_ms"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(15))  # opened, escalated, resolved
    status: Mapped[str] = mapped_column(String(15), default=DeliveryStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    next_attempt_ms: Mapped[int] = mapped_column(BigInteger)
    sent_ms: Mapped[int | None] = mapped_column(BigInteger)
    last_error: Mapped[str | None] = mapped_column(Text)
    # The secret in the message's acknowledge link: whoever got this message may acknowledge.
    ack_token: Mapped[str] = mapped_column(String(64), unique=True)


class DeliveryAttempt(Base):
    """The delivery log: every try, its outcome and why it failed or waited."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    time_ms: Mapped[int] = mapped_column(BigInteger)
    outcome: Mapped[str] = mapped_column(String(15))  # sent, failed, held, rate_limited
    detail: Mapped[str | None] = mapped_column(Text)


class GatewayStatus(Base):
    """A gateway's last said state (its retained MQTT status or last will) and since when."""

    __tablename__ = "gateway_status"

    gateway_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    state: Mapped[str] = mapped_column(String(10))
    since_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)
