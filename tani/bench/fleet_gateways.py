"""Emulated field gateways for ``tani bench fleet``: thousands of MQTT connections per process.

On the wire each emulated gateway does what ``gateway/publisher.py`` does: its own login (the
gateway id), client id = gateway id, MQTT v5, a retained "online" status with an "offline" last
will, a QoS 0 subscription to its own ack topic, reading batches at QoS 1 in the binary format
behind topic alias 1, and a JSON health report at QoS 1, for the field of
``tani.bench.fleet_field``. Only the interval is compressed.

One process drives many gateways: paho clients without their network threads (a thread each
would not scale), every socket in one selector, paho's ``loop_read`` / ``loop_write`` /
``loop_misc`` called for the sockets that are ready. The parent (``tani.bench.fleet``) steers
it over a pipe with small commands and gets plain dicts back:

- ``("connect", n)``: have the first ``n`` gateways of this process connected with their ack
  topic subscribed; answers once they are, or after a timeout, with how many are;
- ``("run", start, interval_s, edges)``: publish from ``start`` (monotonic) until ``edges[-1]``,
  each gateway at its own random phase; a message published before ``edges[0]`` is warm-up,
  one between ``edges[k - 1]`` and ``edges[k]`` belongs to window ``k``; answers at once;
- ``("drain", timeout_s)``: answers once publishing has ended and every batch is acknowledged
  end to end (or after the timeout) with the figures of each window;
- ``("stop",)``: disconnect everything and end.

Now and then a just-published batch goes on the probe queue (window, gateway, reading time,
publish time), so that the parent can time when it becomes queryable in InfluxDB.
"""

from __future__ import annotations

import gc
import heapq
import random
import selectors
import socket
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.queues import Queue
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway.publisher import status_payload
from tani.bench.fleet_field import (
    FIELD_HEALTH_S,
    FIELD_PUBLISH_S,
    READINGS_PER_BATCH,
    batch_readings,
    health_report,
)
from telemetry.acks import AckError, decode_ack
from telemetry.codec import encode_batch
from telemetry.topics import ack_topic, health_topic, readings_topic, status_topic

_BATCH, _HEALTH = 0, 1
# Connects in flight per process: more would overflow Mosquitto's accept queue, and a dropped
# SYN costs a second.
_CONNECT_CHUNK = 50
_CONNECT_TIMEOUT_S = 120.0
_MISC_EVERY_S = 1.0  # paho's keepalive bookkeeping for every client


@dataclass(frozen=True)
class GeneratorPlan:
    """What one load-generator process needs: the broker and its share of the gateways."""

    host: str
    port: int
    gateways: tuple[tuple[str, str], ...]  # (gateway id = MQTT user name, password)
    keepalive_s: int
    persistent_sessions: bool
    session_expiry_s: int
    probe_every_s: float
    seed: int


@dataclass
class _Window:
    messages: int = 0
    readings: int = 0
    health: int = 0
    ack_latencies: list[float] = field(default_factory=list)
    publish_lags: list[float] = field(default_factory=list)


@dataclass
class _Gateway:
    gateway_id: str
    client: mqtt.Client
    seq: int = 1
    connecting: bool = False
    connected: bool = False
    subscribed: bool = False
    alias_sent: bool = False
    alias_max: int = 0
    events: int = 0  # what the selector watches on its socket (0: not registered)
    # first sequence number of each batch not yet acknowledged -> (window, publish time)
    pending: dict[int, tuple[int, float]] = field(default_factory=dict)


class _Generator:
    """The selector loop of one process and the gateways it drives."""

    def __init__(self, plan: GeneratorPlan, control: Connection, probes: Queue[Any]) -> None:
        self._plan = plan
        self._control = control
        self._probes = probes
        self._rng = random.Random(plan.seed)
        self._selector = selectors.DefaultSelector()
        self._selector.register(control.fileno(), selectors.EVENT_READ, None)
        self._gateways = [self._new_gateway(i, *g) for i, g in enumerate(plan.gateways)]
        self._started = time.monotonic()
        self._schedule: list[tuple[float, int, int]] = []  # (due, gateway index, kind)
        self._periods = {_BATCH: 1.0, _HEALTH: 1.0}
        self._edges: list[float] = []
        self._windows: list[_Window] = []
        self._wanted = 0  # the first this many gateways should be connected
        self._next_connect = 0
        self._in_flight = 0
        self._ready = 0
        self._connect_deadline: float | None = None
        self._drain_deadline: float | None = None
        self._unacked = 0
        self._next_probe = 0.0
        self._next_misc = 0.0
        self._counts = {"refused": 0, "disconnects": 0, "publish_errors": 0, "bad_acks": 0}
        self._running = True

    # -- gateways ---------------------------------------------------------------------------

    def _new_gateway(self, index: int, gateway_id: str, password: str) -> _Gateway:
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=gateway_id,
            protocol=mqtt.MQTTv5,
            userdata=index,
        )
        client.username_pw_set(gateway_id, password)
        client.will_set(status_topic(gateway_id), status_payload("offline"), qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        client.on_socket_close = self._on_socket_close
        return _Gateway(gateway_id, client)

    def _connect(self, index: int) -> None:
        gateway = self._gateways[index]
        properties = None
        if self._plan.persistent_sessions:
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = self._plan.session_expiry_s
        try:
            gateway.client.connect(
                self._plan.host,
                self._plan.port,
                keepalive=self._plan.keepalive_s,
                clean_start=not self._plan.persistent_sessions,
                properties=properties,
            )
        except OSError:
            self._counts["refused"] += 1
            return
        gateway.connecting = True
        self._in_flight += 1
        self._watch(index)

    def _watch(self, index: int) -> None:
        """Watch a socket for reading, and for writing while paho has bytes queued on it."""
        gateway = self._gateways[index]
        sock = gateway.client.socket()
        if sock is None:
            return
        events = selectors.EVENT_READ
        if gateway.client.want_write():
            events |= selectors.EVENT_WRITE
        if events == gateway.events:
            return
        if gateway.events:
            self._selector.modify(sock, events, index)
        else:
            self._selector.register(sock, events, index)
        gateway.events = events

    def _connect_done(self, gateway: _Gateway, ready: bool) -> None:
        if gateway.connecting:
            gateway.connecting = False
            self._in_flight -= 1
            self._ready += ready

    def _on_connect(
        self,
        client: mqtt.Client,
        index: int,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        gateway = self._gateways[index]
        if reason_code.is_failure:
            self._counts["refused"] += 1
            self._connect_done(gateway, ready=False)
            return
        gateway.connected = True
        gateway.alias_sent = False
        gateway.alias_max = int(getattr(properties, "TopicAliasMaximum", 0) or 0)
        client.subscribe(ack_topic(gateway.gateway_id), qos=0)
        client.publish(
            status_topic(gateway.gateway_id), status_payload("online"), qos=1, retain=True
        )

    def _on_subscribe(self, client: mqtt.Client, index: int, *_: object) -> None:
        gateway = self._gateways[index]
        gateway.subscribed = True
        self._connect_done(gateway, ready=True)

    def _on_disconnect(self, client: mqtt.Client, index: int, *_: object) -> None:
        gateway = self._gateways[index]
        if gateway.connected and self._running:
            self._counts["disconnects"] += 1
        gateway.connected = gateway.subscribed = False
        self._connect_done(gateway, ready=False)

    def _on_socket_close(self, client: mqtt.Client, index: int, sock: socket.socket) -> None:
        gateway = self._gateways[index]
        if gateway.events:
            self._selector.unregister(sock)
            gateway.events = 0

    def _on_message(self, client: mqtt.Client, index: int, message: mqtt.MQTTMessage) -> None:
        arrived = time.monotonic()
        try:
            ack = decode_ack(message.payload)
        except AckError:
            self._counts["bad_acks"] += 1
            return
        pending = self._gateways[index].pending
        for first, last in ack.ranges:
            seq = first
            while seq <= last:
                batch = pending.pop(seq, None)
                if batch is None:
                    seq += 1
                    continue
                window, published = batch
                self._windows[window].ack_latencies.append(arrived - published)
                self._unacked -= 1
                seq += READINGS_PER_BATCH

    # -- publishing -------------------------------------------------------------------------

    def _publish(self, index: int, kind: int, due: float) -> None:
        gateway = self._gateways[index]
        if not gateway.subscribed:
            self._counts["publish_errors"] += 1
            return
        now = time.monotonic()
        window = self._window_of(now)
        record = self._windows[window]
        record.publish_lags.append(now - due)
        if kind == _HEALTH:
            report = health_report(
                now - self._started, len(gateway.pending) * READINGS_PER_BATCH, gateway.seq - 1
            )
            info = gateway.client.publish(health_topic(gateway.gateway_id), report, qos=1)
            record.health += 1
        else:
            time_ms = time.time_ns() // 1_000_000
            readings = batch_readings(gateway.gateway_id, gateway.seq, time_ms, self._rng)
            payload = encode_batch(gateway.gateway_id, readings)
            properties = Properties(PacketTypes.PUBLISH)
            topic = readings_topic(gateway.gateway_id)
            if gateway.alias_max >= 1:
                # As gateway/publisher.py: the topic name once per connection, then its alias.
                properties.TopicAlias = 1
                topic = "" if gateway.alias_sent else topic
                gateway.alias_sent = True
            info = gateway.client.publish(topic, payload, qos=1, properties=properties)
            gateway.pending[gateway.seq] = (window, now)
            gateway.seq += READINGS_PER_BATCH
            self._unacked += 1
            record.messages += 1
            record.readings += READINGS_PER_BATCH
            if window > 0 and now >= self._next_probe:
                self._next_probe = now + self._plan.probe_every_s
                self._probes.put((window, gateway.gateway_id, time_ms, now))
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            self._counts["publish_errors"] += 1
        self._watch(index)

    def _window_of(self, now: float) -> int:
        """0 for warm-up, k for window k (the last window keeps stragglers)."""
        window = 0
        for edge in self._edges[:-1]:
            if now < edge:
                break
            window += 1
        return window

    def _start(self, start: float, interval_s: float, edges: list[float]) -> None:
        self._edges = edges
        self._windows = [_Window() for _ in edges]
        self._periods = {_BATCH: interval_s, _HEALTH: interval_s * FIELD_HEALTH_S / FIELD_PUBLISH_S}
        self._schedule = []
        for index in range(self._wanted):
            phase = self._rng.uniform(0, interval_s)
            self._schedule.append((start + phase, index, _BATCH))
            # The report follows its batch, as the gateway's loop sends it after publishing.
            self._schedule.append((start + phase + 0.001, index, _HEALTH))
        heapq.heapify(self._schedule)

    def _publish_due(self, now: float) -> None:
        schedule = self._schedule
        end = self._edges[-1]
        while schedule and schedule[0][0] <= now:
            due, index, kind = heapq.heappop(schedule)
            self._publish(index, kind, due)
            following = due + self._periods[kind]
            if following < end:
                heapq.heappush(schedule, (following, index, kind))

    # -- commands ---------------------------------------------------------------------------

    def _command(self) -> None:
        command = self._control.recv()
        name = command[0]
        if name == "connect":
            self._wanted = min(command[1], len(self._gateways))
            self._connect_deadline = time.monotonic() + _CONNECT_TIMEOUT_S
        elif name == "run":
            self._start(command[1], command[2], command[3])
            self._control.send({"running": True})
        elif name == "drain":
            self._drain_deadline = time.monotonic() + command[1]
        elif name == "stop":
            self._running = False
            for gateway in self._gateways:
                if gateway.connected:
                    gateway.client.disconnect()
            self._control.send({"stopped": True})

    def _progress(self, now: float) -> None:
        """Connect the next gateways; answer a connect or drain command once it is done."""
        if self._connect_deadline is not None:
            while self._in_flight < _CONNECT_CHUNK and self._next_connect < self._wanted:
                self._connect(self._next_connect)
                self._next_connect += 1
            if (
                self._next_connect >= self._wanted and self._in_flight == 0
            ) or now >= self._connect_deadline:
                self._connect_deadline = None
                # What is connected now lives to the end: keep it out of the collector's
                # passes, whose pauses would otherwise show as latency.
                gc.collect()
                gc.freeze()
                self._control.send({"connected": self._ready, **self._counts})
        if self._drain_deadline is not None:
            publishing = bool(self._schedule) and now < self._edges[-1]
            if not publishing and (self._unacked == 0 or now >= self._drain_deadline):
                self._drain_deadline = None
                self._control.send(self._report())

    def _report(self) -> dict[str, Any]:
        windows = [
            {
                "messages": w.messages,
                "readings": w.readings,
                "health": w.health,
                "ack_latencies": w.ack_latencies,
                "publish_lags": w.publish_lags,
            }
            for w in self._windows
        ]
        return {
            "windows": windows,
            "unacked_readings": self._unacked * READINGS_PER_BATCH,
            **self._counts,
        }

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> None:
        """Serve the parent's commands until ``stop``."""
        while self._running:
            if self._schedule:
                self._publish_due(time.monotonic())
            timeout = 0.05
            if self._schedule:
                timeout = max(0.0, min(timeout, self._schedule[0][0] - time.monotonic()))
            for key, mask in self._selector.select(timeout):
                if key.data is None:
                    self._command()
                    continue
                client = self._gateways[key.data].client
                if mask & selectors.EVENT_READ:
                    client.loop_read()
                if mask & selectors.EVENT_WRITE:
                    client.loop_write()
                self._watch(key.data)
            now = time.monotonic()
            if now >= self._next_misc:
                self._next_misc = now + _MISC_EVERY_S
                for index in range(self._next_connect):
                    if self._gateways[index].client.socket() is not None:
                        self._gateways[index].client.loop_misc()
                        self._watch(index)
            self._progress(now)


def generator_main(plan: GeneratorPlan, control: Connection, probes: Queue[Any]) -> None:
    """Entry point of one load-generator process."""
    _Generator(plan, control, probes).run()
