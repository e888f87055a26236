"""MQTT side of ingest: a persistent v5 session whose messages are acknowledged by hand.

A message is acknowledged only after everything in it reached InfluxDB (or was set aside as a dead
letter), so the broker keeps it until then, across ingest restarts. The v5 "receive maximum"
caps how many unacknowledged messages the broker hands us: when InfluxDB is slow, the backlog
waits in the broker's queue instead of piling up in our memory.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from ingest.config import MqttSettings
from telemetry.acks import encode_acks
from telemetry.topics import ALL_HEALTH, ALL_READINGS, ALL_STATUS, ack_topic

log = logging.getLogger(__name__)

TOPICS = (ALL_READINGS, ALL_STATUS, ALL_HEALTH)


def subscription(topic: str, shared_group: str | None) -> str:
    """The filter to subscribe to: shared among a group's workers, or this worker's alone."""
    return f"$share/{shared_group}/{topic}" if shared_group else topic


def _send_without_delay(client: mqtt.Client, userdata: object, sock: object) -> None:
    """Acks go out the moment they are sent. With Nagle's algorithm a small ack waits for the
    broker's TCP acknowledgement of the previous packet, which Linux delays up to 40 ms: the
    gateway takes the ack's server time as its clock, so that wait would put readings late."""
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A message received and not yet acknowledged."""

    topic: str
    payload: bytes
    mid: int
    qos: int


class MqttConsumer:
    """Receives reading batches and status messages; acknowledges on request."""

    def __init__(self, settings: MqttSettings) -> None:
        self.messages: queue.SimpleQueue[InboundMessage] = queue.SimpleQueue()
        self.connected = threading.Event()
        self.received = 0  # messages handed to us, redeliveries included
        # Set once the broker confirmed our subscriptions on the current connection.
        self.subscribed = threading.Event()
        self._stopping = False
        self._settings = settings
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        client.username_pw_set(settings.username, settings.password)
        if settings.tls:
            client.tls_set(ca_certs=str(settings.ca_file) if settings.ca_file else None)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_socket_open = _send_without_delay
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        self._client = client

    def start(self) -> None:
        """Connect in the background; paho reconnects by itself after a drop."""
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = self._settings.session_expiry
        properties.ReceiveMaximum = self._settings.receive_maximum
        self._client.connect_async(
            self._settings.host,
            self._settings.port,
            keepalive=self._settings.keepalive_s,
            clean_start=False,
            properties=properties,
        )
        self._client.loop_start()

    def ack(self, message: InboundMessage) -> None:
        """Tell the broker this message is safely handled."""
        if message.qos > 0:
            self._client.ack(message.mid, message.qos)

    def confirm(self, gateway_id: str, seqs: list[int], server_time_ms: int) -> None:
        """Tell a gateway that these readings are settled (stored or set aside), and the time.

        QoS 1 to the broker, so paho keeps it across a reconnect; a gateway that misses it
        (offline, or its session gone) sends the readings again and is confirmed again.
        """
        for payload in encode_acks(server_time_ms, seqs):
            self._client.publish(ack_topic(gateway_id), payload, qos=1)

    def unsubscribe(self) -> None:
        """Ask the broker for no more messages (a shared worker leaving its group)."""
        self._client.unsubscribe([subscription(t, self._settings.shared_group) for t in TOPICS])

    def stop(self, end_session: bool = False) -> None:
        """Disconnect. Unacknowledged messages stay in the broker's session, unless
        ``end_session``: then the session ends with the connection, and Mosquitto stops
        setting aside a share of a shared subscription for this worker."""
        self._stopping = True
        properties = None
        if end_session:
            properties = Properties(PacketTypes.DISCONNECT)
            properties.SessionExpiryInterval = 0
        self._client.disconnect(properties=properties)
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
            log.error("broker refused connection", extra={"reason": str(reason_code)})
            return
        log.info(
            "connected to broker",
            extra={"session_present": flags.session_present, "client_id": self._settings.client_id},
        )
        # Subscribing again is harmless when the session was kept, and needed when it was not.
        client.subscribe([(subscription(t, self._settings.shared_group), 1) for t in TOPICS])
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
                extra={"reason": str(reason_code)},
            )
        self.connected.clear()
        self.subscribed.clear()

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        refused = [str(code) for code in reason_codes if code.is_failure]
        if refused:
            log.error(
                "broker refused a subscription (check the ingest user's ACL)",
                extra={"reasons": refused},
            )
            return
        log.info("subscribed", extra={"client_id": self._settings.client_id})
        self.subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        self.received += 1
        self.messages.put(InboundMessage(msg.topic, msg.payload, msg.mid, msg.qos))
