"""Gateway online/offline, as gateways say it on MQTT: retained status and last will.

A gateway publishes a retained ``{"state": "online"}`` when it connects and registers
``{"state": "offline"}`` as its last will, which the broker publishes when the connection dies
without a goodbye (power cut, lost uplink, killed process). Each change is written to the
registry's ``gateway_status`` table, where the evaluator's offline rule reads it; a restart
loses nothing, as the broker hands the retained states over again on subscribing.

The will's payload was composed when the gateway connected, so its time says nothing about
when the gateway went away: "offline" is dated when it reached us. "online" is published as
the gateway connects, so its own time is kept (unless it lies in the future).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy.orm import Session

from alerts.config import MqttSettings
from registry.alerting import GatewayStatus
from registry.store import Registry
from telemetry.topics import ALL_STATUS, STATUS, TopicError, parse_topic

log = logging.getLogger(__name__)

STATES = ("online", "offline")


class StatusPayloadError(ValueError):
    """A status message that is not {"state": "online"|"offline", ...}."""


def parse_status(payload: bytes) -> tuple[str, int | None]:
    """(state, time_ms or None) of a status message."""
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StatusPayloadError(f"not JSON: {exc}") from None
    if not isinstance(body, dict) or body.get("state") not in STATES:
        raise StatusPayloadError('expected {"state": "online" or "offline"}')
    time_ms = body.get("time_ms")
    return body["state"], time_ms if isinstance(time_ms, int) and time_ms > 0 else None


def record_status(
    session: Session, gateway_id: str, state: str, said_ms: int | None, now_ms: int
) -> bool:
    """Store a gateway's state; True if it changed. ``said_ms`` is the time in the message."""
    row = session.get(GatewayStatus, gateway_id)
    if row is not None and row.state == state:
        row.updated_ms = now_ms
        return False
    trusted = state == "online" and said_ms is not None and said_ms <= now_ms
    since = said_ms if trusted and said_ms is not None else now_ms
    if row is None:
        session.add(
            GatewayStatus(gateway_id=gateway_id, state=state, since_ms=since, updated_ms=now_ms)
        )
    else:
        row.state, row.since_ms, row.updated_ms = state, since, now_ms
    return True


class GatewayStatusWatcher:
    """Subscribes to every gateway's status topic and records each change."""

    def __init__(
        self, settings: MqttSettings, registry: Registry, *, clock: Callable[[], int]
    ) -> None:
        self._registry = registry
        self._clock = clock
        self.subscribed = threading.Event()
        self.rejected = 0
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            protocol=mqtt.MQTTv5,
        )
        client.username_pw_set(settings.username, settings.password)
        if settings.tls:
            client.tls_set(ca_certs=str(settings.ca_file) if settings.ca_file else None)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self._client = client
        self._settings = settings

    def start(self) -> None:
        """Connect in the background; paho reconnects by itself after a drop."""
        self._client.connect_async(
            self._settings.host, self._settings.port, keepalive=self._settings.keepalive_s
        )
        self._client.loop_start()

    def stop(self) -> None:
        """Disconnect and stop the network thread."""
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        _flags: object,
        reason: ReasonCode,
        _properties: object,
    ) -> None:
        if reason.is_failure:
            log.error("broker refused the alerts service", extra={"reason": str(reason)})
            return
        # Statuses are retained: subscribing hands over every gateway's current one.
        client.subscribe(ALL_STATUS, qos=1)

    def _on_subscribe(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _mid: int,
        reasons: list[ReasonCode],
        _properties: object,
    ) -> None:
        if all(not r.is_failure for r in reasons):
            self.subscribed.set()
        else:
            log.error("status subscription refused", extra={"reasons": [str(r) for r in reasons]})

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: object,
        reason: ReasonCode,
        _properties: object,
    ) -> None:
        self.subscribed.clear()
        log.warning("alerts service lost the broker", extra={"reason": str(reason)})

    def _on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        try:
            topic = parse_topic(msg.topic)
            if topic.kind != STATUS:
                raise TopicError(f"topic {msg.topic!r} is not a status topic")
            state, said_ms = parse_status(msg.payload)
        except (TopicError, StatusPayloadError) as exc:
            self.rejected += 1
            log.warning(
                "status message refused",
                extra={"topic": msg.topic, "reason": str(exc), "rejected": self.rejected},
            )
            return
        try:
            with Session(self._registry.engine) as session, session.begin():
                changed = record_status(session, topic.gateway_id, state, said_ms, self._clock())
        except Exception:
            # The registry being busy must not kill paho's network thread; the retained
            # status comes again on the next reconnect, and the next change is recorded.
            log.exception("gateway status not recorded", extra={"gateway_id": topic.gateway_id})
            return
        if changed:
            log.info("gateway status", extra={"gateway_id": topic.gateway_id, "state": state})
