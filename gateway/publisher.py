"""The gateway's MQTT v5 link: one connection at a time, reconnect with jittered backoff.

Each connection is a fresh paho client with a clean start. The durable session is the outbox:
when a connection drops, every batch it had in flight goes back to the outbox and is sent again
on the next connection. Two reasons for not leaning on paho's in-memory session: it dies with the
process (the outbox does not), and paho resends a queued PUBLISH verbatim, topic alias included,
on a new connection where that alias means nothing. Topic aliases save the 30-odd bytes of the
topic name on every message after the first of a connection.

Reconnects wait a random time up to an exponentially growing bound ("full jitter"), so that a
village of gateways does not hammer the broker in step after it restarts.

The link also receives ingest's end-to-end acks on the gateway's own ack topic (QoS 0: a lost
ack only means the readings are sent, and confirmed, again). Bytes on that topic that are not an
ack are counted and logged, never raised into paho's thread.

paho calls back from the network thread while holding its own locks, so callbacks only put
events on a queue; the forwarding thread does the bookkeeping.
"""

from __future__ import annotations

import json
import logging
import queue
import random
import threading
import time
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway.config import MqttSettings
from telemetry.acks import Ack, AckError, decode_ack
from telemetry.topics import ack_topic, health_topic, readings_topic, status_topic

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PublishAck:
    """The broker's answer to one QoS 1 publish."""

    mid: int
    accepted: bool
    reason: str


@dataclass(frozen=True, slots=True)
class ConnectionLost:
    """The connection ended: nothing published on it will be acknowledged any more."""


@dataclass(frozen=True, slots=True)
class Confirmed:
    """Ingest's end-to-end ack, and the monotonic time it arrived."""

    ack: Ack
    mono_ns: int


LinkEvent = PublishAck | ConnectionLost | Confirmed


def status_payload(state: str) -> bytes:
    """The retained status message: "online" or "offline", with the time it was said."""
    return json.dumps({"state": state, "time_ms": time.time_ns() // 1_000_000}).encode()


class MqttPublisher:
    """Publishes reading batches and health; reports acks and lost connections as events."""

    def __init__(
        self,
        gateway_id: str,
        settings: MqttSettings,
        content_type: str | None,
        rng: random.Random | None = None,
        acks: bool = True,
    ) -> None:
        self.gateway_id = gateway_id
        self.events: queue.SimpleQueue[LinkEvent] = queue.SimpleQueue()
        self.connected = threading.Event()
        self.connections = 0
        self.malformed_acks = 0
        self._acks = acks  # subscribe to ingest's end-to-end acks (not with confirm = "broker")
        self._settings = settings
        # None: leave it out; the binary format names itself in its first byte, and the 35-odd
        # bytes of a content type on every message are a large part of a small batch.
        self._content_type = content_type
        self._rng = rng or random.Random()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._client: mqtt.Client | None = None
        self._alias_max = 0
        self._alias_sent = False
        self._thread = threading.Thread(target=self._run, name="mqtt", daemon=True)

    def start(self) -> None:
        """Start connecting in the background."""
        self._thread.start()

    def publish_batch(self, payload: bytes) -> int | None:
        """Send one batch at QoS 1; the mid of its PublishAck, or None when not connected."""
        with self._lock:
            client = self._client
            if client is None or not self.connected.is_set():
                return None
            props = Properties(PacketTypes.PUBLISH)
            if self._content_type:
                props.ContentType = self._content_type
            topic = readings_topic(self.gateway_id)
            if self._alias_max >= 1:
                props.TopicAlias = 1
                if self._alias_sent:
                    topic = ""
                self._alias_sent = True
            info = client.publish(topic, payload, qos=1, properties=props)
        return info.mid if info.rc == mqtt.MQTT_ERR_SUCCESS else None

    def publish_health(self, payload: bytes) -> bool:
        """Send a health report (QoS 1, not retained); False when not connected."""
        with self._lock:
            client = self._client
            if client is None or not self.connected.is_set():
                return False
            info = client.publish(health_topic(self.gateway_id), payload, qos=1)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    def stop(self) -> None:
        """Say "offline" ourselves (the will is only sent on an unclean drop) and disconnect."""
        with self._lock:
            client = self._client if self.connected.is_set() else None
        if client is not None:
            info = client.publish(
                status_topic(self.gateway_id), status_payload("offline"), qos=1, retain=True
            )
            try:
                info.wait_for_publish(timeout=5)
            except RuntimeError:
                log.warning("offline status not sent", extra={"gateway_id": self.gateway_id})
        self._stopping.set()
        if client is not None:
            client.disconnect()
        self._thread.join()

    def _new_client(self) -> mqtt.Client:
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=self.gateway_id, protocol=mqtt.MQTTv5
        )
        client.username_pw_set(self._settings.username, self._settings.password)
        if self._settings.tls:
            client.tls_set(ca_certs=str(self._settings.ca_file) if self._settings.ca_file else None)
        client.will_set(
            status_topic(self.gateway_id), status_payload("offline"), qos=1, retain=True
        )
        client.on_connect = self._on_connect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    def _run(self) -> None:
        bound = self._settings.reconnect_min_s
        failures = 0
        while not self._stopping.is_set():
            client = self._new_client()
            try:
                client.connect(
                    self._settings.host,
                    self._settings.port,
                    keepalive=self._settings.keepalive_s,
                    clean_start=True,
                )
            except (OSError, ValueError) as exc:
                failures += 1
                log.log(
                    logging.WARNING if failures == 1 else logging.DEBUG,
                    f"cannot reach broker {self._settings.host}:{self._settings.port}: {exc}",
                    extra={"gateway_id": self.gateway_id, "attempt": failures},
                )
                self._stopping.wait(self._rng.uniform(0, bound))
                bound = min(bound * 2, self._settings.reconnect_max_s)
                continue
            with self._lock:
                self._client = client
                self._alias_sent = False
            while not self._stopping.is_set():
                if client.loop(timeout=0.5) != mqtt.MQTT_ERR_SUCCESS:
                    break
            was_connected = self.connected.is_set()
            with self._lock:
                self.connected.clear()
                self._client = None
            self.events.put(ConnectionLost())
            if self._stopping.is_set():
                client.loop(timeout=0.1)  # let the DISCONNECT packet out
                break
            if was_connected:
                failures, bound = 0, self._settings.reconnect_min_s
                log.warning("connection to broker lost", extra={"gateway_id": self.gateway_id})
            else:
                failures += 1
            self._stopping.wait(self._rng.uniform(0, bound))
            bound = min(bound * 2, self._settings.reconnect_max_s)

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            log.error(
                "broker refused connection (check the gateway's MQTT username and password)",
                extra={"gateway_id": self.gateway_id, "reason": str(reason_code)},
            )
            return
        self._alias_max = int(getattr(properties, "TopicAliasMaximum", 0) or 0)
        self.connections += 1
        log.info("connected to broker", extra={"gateway_id": self.gateway_id})
        if self._acks:
            client.subscribe(ack_topic(self.gateway_id), qos=0)
        client.publish(status_topic(self.gateway_id), status_payload("online"), qos=1, retain=True)
        self.connected.set()

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self.events.put(PublishAck(mid, not reason_code.is_failure, str(reason_code)))

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        arrived = time.monotonic_ns()
        try:
            ack = decode_ack(msg.payload)
        except AckError as exc:
            self.malformed_acks += 1
            log.log(
                logging.WARNING if self.malformed_acks == 1 else logging.DEBUG,
                f"ignored a message on the ack topic that is not an ack: {exc}",
                extra={"gateway_id": self.gateway_id, "malformed_acks": self.malformed_acks},
            )
            return
        self.events.put(Confirmed(ack, arrived))
