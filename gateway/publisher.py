"""MQTT v5 publisher of reading batches. Knows nothing of serial ports or devices.

paho's network thread calls back while holding paho's own locks, so callbacks only put events on
queues; the gateway's forwarding thread does all bookkeeping (see ``service.py``).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway.config import MqttSettings
from telemetry.codec import CONTENT_TYPE
from telemetry.topics import readings_topic, status_topic

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PublishAck:
    """The broker's answer to one QoS 1 publish."""

    mid: int
    accepted: bool
    reason: str


def _status_payload(state: str) -> bytes:
    return json.dumps({"state": state, "time_ms": time.time_ns() // 1_000_000}).encode()


class MqttPublisher:
    """One long-lived MQTT connection of a gateway."""

    def __init__(self, gateway_id: str, settings: MqttSettings) -> None:
        self.gateway_id = gateway_id
        self.acks: queue.SimpleQueue[PublishAck] = queue.SimpleQueue()
        self.connected = threading.Event()
        self._stopping = False
        self._settings = settings
        self._refused_logged = False
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=gateway_id, protocol=mqtt.MQTTv5
        )
        client.username_pw_set(settings.username, settings.password)
        if settings.tls:
            client.tls_set(ca_certs=str(settings.ca_file) if settings.ca_file else None)
        # The broker publishes this for us if we vanish without saying goodbye.
        client.will_set(status_topic(gateway_id), _status_payload("offline"), qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=60)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        self._client = client
        self._props = Properties(PacketTypes.PUBLISH)
        self._props.ContentType = CONTENT_TYPE

    def start(self) -> None:
        """Connect in the background; paho reconnects by itself after a drop."""
        self._client.connect_async(
            self._settings.host, self._settings.port, keepalive=self._settings.keepalive_s
        )
        self._client.loop_start()

    def publish(self, payload: bytes) -> int | None:
        """Queue one batch at QoS 1; the mid to match its PublishAck, or None if not connected."""
        if not self.connected.is_set():
            return None
        info = self._client.publish(
            readings_topic(self.gateway_id), payload, qos=1, properties=self._props
        )
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return None
        return info.mid

    def stop(self) -> None:
        """Say "offline" ourselves (the will is only sent on an unclean drop) and disconnect."""
        if self.connected.is_set():
            info = self._client.publish(
                status_topic(self.gateway_id), _status_payload("offline"), qos=1, retain=True
            )
            try:
                info.wait_for_publish(timeout=5)
            except RuntimeError:
                log.warning("offline status not sent", extra={"gateway_id": self.gateway_id})
        self._stopping = True
        self._client.disconnect()
        self._client.loop_stop()

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
                "broker refused connection",
                extra={"gateway_id": self.gateway_id, "reason": str(reason_code)},
            )
            return
        log.info("connected to broker", extra={"gateway_id": self.gateway_id})
        client.publish(status_topic(self.gateway_id), _status_payload("online"), qos=1, retain=True)
        self.connected.set()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if self.connected.is_set():
            log.log(
                logging.INFO if self._stopping else logging.WARNING,
                "disconnected from broker",
                extra={"gateway_id": self.gateway_id, "reason": str(reason_code)},
            )
        self.connected.clear()

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self.acks.put(PublishAck(mid, not reason_code.is_failure, str(reason_code)))
