"""What the integration tests share: waiting on conditions, matching readings to what an
emulator sent, a real MQTT subscriber that keeps every reading a gateway published, and the API
served over HTTP."""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import uvicorn
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from api.app import create_app
from api.config import ApiConfig
from firmware_sim.history import Served
from tani.stack import Stack, free_ports
from telemetry.acks import encode_acks
from telemetry.codec import decode_batch
from telemetry.reading import Reading
from telemetry.topics import STATUS, ack_topic, parse_topic, readings_topic, status_topic


def wait_for(condition: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    """Poll ``condition`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def matching_frame(
    history: list[Served], values: dict[str, float], time_ms: int, max_lag_s: float = 2.0
) -> Served | None:
    """The emulator frame with exactly these values, sent shortly before the gateway read it."""
    for frame in history:
        lag_s = time_ms / 1000 - frame.wall_time
        same = all(frame.values.get(q) == pytest.approx(v, abs=1e-6) for q, v in values.items())
        if same and -0.05 <= lag_s <= max_lag_s:
            return frame
    return None


def assert_readings_match_history(
    readings: Iterable[Reading], device_id: str, history: list[Served], max_lag_s: float = 2.0
) -> int:
    """Every reading of ``device_id`` has the value and time of a frame the emulator sent.

    Returns how many readings (one per quantity and read) were checked.
    """
    by_time: dict[int, dict[str, float]] = defaultdict(dict)
    for reading in readings:
        if reading.device_id == device_id:
            by_time[reading.time_ms][reading.quantity] = reading.value
    for time_ms, values in by_time.items():
        assert matching_frame(history, values, time_ms, max_lag_s), (
            f"{device_id}: {values} at {time_ms} was never sent by the emulator"
        )
    return sum(len(v) for v in by_time.values())


def assert_no_gaps(readings: dict[int, Reading], last_seq: int) -> None:
    """Sequence numbers 1..last_seq all arrived: no committed reading was lost."""
    missing = sorted(set(range(1, last_seq + 1)) - readings.keys())
    assert not missing, f"{len(missing)} readings lost, first seqs {missing[:10]}"


class Collector:
    """Subscribes with a persistent session, so nothing published while it reconnects is lost.

    It confirms what it received on the gateway's ack topic, as ingest confirms what it stored,
    so that the gateway under test deletes it from its outbox; and, as ingest does, it answers
    the gateway's status with the time (a gateway without NTP waits for it).
    """

    def __init__(self, stack: Stack, gateway_id: str) -> None:
        creds = stack.add_mqtt_user("test-collector", "service")
        self.readings: dict[int, Reading] = {}
        self.duplicates = 0
        self.messages = 0
        self._lock = threading.Lock()
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"collector-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        client.username_pw_set(creds.username, creds.password)
        client.on_message = self._on_message
        client.on_connect = lambda c, *_: c.subscribe(
            [(readings_topic(gateway_id), 1), (status_topic(gateway_id), 1)]
        )
        client.reconnect_delay_set(0.2, 1.0)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        client.connect(stack.mqtt_host, stack.mqtt_port, clean_start=False, properties=props)
        client.loop_start()
        self._client = client

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        topic = parse_topic(msg.topic)
        if topic.kind == STATUS:
            (payload,) = encode_acks(time.time_ns() // 1_000_000, [])
            client.publish(ack_topic(topic.gateway_id), payload, qos=1)
            return
        batch = decode_batch(msg.payload, topic.gateway_id)
        assert not batch.rejected, batch.rejected
        with self._lock:
            self.messages += 1
            for reading in batch.readings:
                if reading.seq in self.readings:
                    self.duplicates += 1
                    # A re-sent reading is the same reading, never a changed one.
                    assert self.readings[reading.seq] == reading
                self.readings[reading.seq] = reading
        seqs = [r.seq for r in batch.readings]
        for payload in encode_acks(time.time_ns() // 1_000_000, seqs):
            client.publish(ack_topic(topic.gateway_id), payload, qos=1)

    def count(self) -> int:
        """Distinct readings received."""
        with self._lock:
            return len(self.readings)

    def snapshot(self) -> dict[int, Reading]:
        """Everything received, by sequence number."""
        with self._lock:
            return dict(self.readings)

    def close(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()


@contextmanager
def serve_api(config: ApiConfig) -> Iterator[str]:
    """The API application under uvicorn in a thread; yields its base URL."""
    port = free_ports(1)[0]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
        )
    )
    thread = threading.Thread(target=server.run, name="test-api", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not server.started:
            assert thread.is_alive(), "the API server stopped while starting"
            assert time.monotonic() < deadline, "the API server did not start in 15 s"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
        assert not thread.is_alive(), "the API server thread did not stop"
