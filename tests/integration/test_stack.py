"""The local stack against the real Mosquitto 2.0 and influxd 1.6 processes it starts.

What Mosquitto 2.0.11 does, as these tests pin down:
- a v5 QoS 1 PUBLISH outside the user's ACL gets a PUBACK with reason code 0x87 "Not
  authorized"; the message is dropped and the connection stays open;
- a wrong password gets CONNACK 0x87 "Not authorized" (not 0x86 "Bad user name or password");
- a gateway may SUBSCRIBE to tani/# (SUBACK grants it) but receives nothing: the read ACL is
  applied to every delivery.
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.reasoncodes import ReasonCode

from tani.stack import MqttCredentials, MqttUserError, PortInUseError, Stack, users
from tani.stack.config import find_binary

pytestmark = pytest.mark.integration

ProcScan = Callable[[Path], list[str]]
Connect = Callable[[MqttCredentials], "Client"]

NOT_AUTHORIZED = 0x87
WAIT = 5.0  # generous upper bound for a condition on loopback; tests never sleep fixed times


class Client:
    """A paho MQTT v5 client in its own thread that records what it gets, for waiting on."""

    def __init__(self, stack: Stack, creds: MqttCredentials, password: str | None = None) -> None:
        self.paho = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"{creds.username}-test-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        self.paho.username_pw_set(creds.username, password or creds.password)
        self.paho.on_connect = self._on_connect
        self.paho.on_message = self._on_message
        self.paho.on_publish = self._on_publish
        self.paho.on_subscribe = self._on_subscribe
        self.cond = threading.Condition()
        self.connack: ReasonCode | None = None
        self.messages: list[mqtt.MQTTMessage] = []
        self.pubacks: dict[int, ReasonCode] = {}
        self.subacks: dict[int, list[ReasonCode]] = {}
        self.paho.connect(stack.mqtt_host, stack.mqtt_port, keepalive=30)
        self.paho.loop_start()
        self.wait_for(lambda: self.connack is not None, "CONNACK")

    def _on_connect(
        self, _c: Any, _u: Any, _flags: Any, reason_code: ReasonCode, _props: Any
    ) -> None:
        with self.cond:
            self.connack = reason_code
            self.cond.notify_all()

    def _on_message(self, _c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        with self.cond:
            self.messages.append(message)
            self.cond.notify_all()

    def _on_publish(self, _c: Any, _u: Any, mid: int, reason_code: ReasonCode, _props: Any) -> None:
        with self.cond:
            self.pubacks[mid] = reason_code
            self.cond.notify_all()

    def _on_subscribe(
        self, _c: Any, _u: Any, mid: int, codes: list[ReasonCode], _props: Any
    ) -> None:
        with self.cond:
            self.subacks[mid] = codes
            self.cond.notify_all()

    def wait_for(self, predicate: Callable[[], bool], what: str) -> None:
        """Block until ``predicate()`` holds, or fail naming ``what`` we waited for."""
        with self.cond:
            if not self.cond.wait_for(predicate, timeout=WAIT):
                pytest.fail(f"no {what} within {WAIT} s")

    def subscribe(self, topic: str) -> list[ReasonCode]:
        """Subscribe with QoS 1 and return the SUBACK reason codes."""
        _rc, mid = self.paho.subscribe(topic, qos=1)
        self.wait_for(lambda: mid in self.subacks, f"SUBACK for {topic}")
        return self.subacks[mid]

    def publish(self, topic: str, payload: bytes) -> ReasonCode:
        """Publish with QoS 1 and return the PUBACK reason code."""
        info = self.paho.publish(topic, payload, qos=1)
        self.wait_for(lambda: info.mid in self.pubacks, f"PUBACK for {topic}")
        return self.pubacks[info.mid]

    def payloads(self) -> list[tuple[str, bytes]]:
        """(topic, payload) of every message received so far."""
        with self.cond:
            return [(m.topic, m.payload) for m in self.messages]

    def close(self) -> None:
        """Disconnect and stop the network thread (no leaked threads)."""
        self.paho.disconnect()
        self.paho.loop_stop()


@pytest.fixture
def connect(stack: Stack) -> Iterator[Connect]:
    """Factory of connected clients on the session stack, all closed after the test."""
    clients: list[Client] = []

    def factory(creds: MqttCredentials) -> Client:
        client = Client(stack, creds)
        clients.append(client)
        assert client.connack is not None and client.connack.value == 0, client.connack
        return client

    yield factory
    for client in clients:
        client.close()


def _marker() -> bytes:
    return uuid.uuid4().hex.encode()


def test_influxd_ping_answers_204_with_version(stack: Stack) -> None:
    response = httpx.get(f"{stack.influx_url}/ping", timeout=WAIT)
    assert response.status_code == 204
    assert response.headers["X-Influxdb-Version"].startswith("1.")


def test_gateway_publish_reaches_service_subscriber(stack: Stack, connect: Connect) -> None:
    ingest = connect(stack.add_mqtt_user("ingest", "service"))
    assert [c.value for c in ingest.subscribe("tani/#")] == [1]
    gateway = connect(stack.add_mqtt_user("gw-a", "gateway"))
    marker = _marker()

    assert gateway.publish("tani/v1/gw-a/readings", marker).value == 0

    ingest.wait_for(lambda: ("tani/v1/gw-a/readings", marker) in ingest.payloads(), "reading")


def test_gateway_cannot_publish_as_another_gateway(stack: Stack, connect: Connect) -> None:
    ingest = connect(stack.add_mqtt_user("ingest", "service"))
    ingest.subscribe("tani/#")
    gateway = connect(stack.add_mqtt_user("gw-a", "gateway"))
    forged, after = _marker(), _marker()

    # Mosquitto 2.0.11 answers a v5 QoS 1 publish outside the ACL with PUBACK 0x87.
    assert gateway.publish("tani/v1/gw-b/readings", forged).value == NOT_AUTHORIZED
    # ... and keeps the connection: the next, allowed, publish goes through.
    assert gateway.publish("tani/v1/gw-a/readings", after).value == 0

    # Messages of one connection reach a subscriber in order: once `after` is there, a
    # delivered `forged` would be there too.
    ingest.wait_for(lambda: any(p == after for _t, p in ingest.payloads()), "allowed reading")
    assert all(p != forged for _t, p in ingest.payloads())
    assert all(not t.startswith("tani/v1/gw-b/") for t, _p in ingest.payloads())


def test_gateway_cannot_read_other_gateways(stack: Stack, connect: Connect) -> None:
    spy = connect(stack.add_mqtt_user("gw-a", "gateway"))
    # Mosquitto grants the subscription but applies the read ACL to each delivery.
    spy.subscribe("tani/#")
    other = connect(stack.add_mqtt_user("gw-b", "gateway"))
    assert other.publish("tani/v1/gw-b/readings", _marker()).value == 0

    # A delivery to `spy` would be written to its socket before the PUBACK of its own later
    # publish, and paho handles packets in order.
    assert spy.publish("tani/v1/gw-a/readings", _marker()).value == 0
    assert spy.payloads() == []


def test_service_user_cannot_publish(stack: Stack, connect: Connect) -> None:
    ingest = connect(stack.add_mqtt_user("ingest", "service"))
    assert ingest.publish("tani/v1/gw-a/readings", _marker()).value == NOT_AUTHORIZED


def test_wrong_password_is_refused(stack: Stack) -> None:
    creds = stack.add_mqtt_user("gw-a", "gateway")
    client = Client(stack, creds, password=creds.password + "x")
    try:
        assert client.connack is not None
        assert client.connack.value == NOT_AUTHORIZED  # Mosquitto 2.0.11: 0x87, not 0x86
        assert not client.paho.is_connected()
    finally:
        client.close()


def test_add_mqtt_user_is_idempotent_and_keeps_roles_apart(stack: Stack) -> None:
    first = stack.add_mqtt_user("gw-c", "gateway")
    assert stack.add_mqtt_user("gw-c", "gateway") == first
    assert stack.mqtt_credentials("gw-c") == first
    with pytest.raises(MqttUserError):
        stack.add_mqtt_user("gw-c", "service")
    with pytest.raises(MqttUserError):
        stack.add_mqtt_user("gw/c", "gateway")  # would be two topic levels
    with pytest.raises(MqttUserError):
        stack.mqtt_credentials("nobody")


def test_up_twice_is_a_no_op(private_stack: Stack, stack_processes: ProcScan) -> None:
    first = private_stack.up()
    assert first.answering
    second = private_stack.up()
    assert (second.mosquitto.pid, second.influxd.pid) == (first.mosquitto.pid, first.influxd.pid)
    assert second.answering


def test_other_process_sees_status_and_can_stop_the_stack(
    private_stack: Stack, stack_processes: ProcScan
) -> None:
    started = private_stack.up()
    # Another process knows only the state directory; the ports come from its stack.json.
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from tani.stack import Stack\n"
        "s = Stack.from_state_dir(Path(sys.argv[1]))\n"
        "print(json.dumps(s.status().as_dict()))\n"
        "if sys.argv[2] == 'down':\n"
        "    s.down()\n"
    )

    def run(action: str) -> dict[str, Any]:
        result = subprocess.run(
            [sys.executable, "-c", script, str(private_stack.config.state_dir), action],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return json.loads(result.stdout)

    seen = run("status")
    assert seen["mosquitto"]["running"] and seen["mosquitto"]["answering"]
    assert seen["influxd"]["running"] and seen["influxd"]["answering"]
    assert seen["mosquitto"]["pid"] == started.mosquitto.pid
    assert seen["influxd"]["pid"] == started.influxd.pid

    run("down")
    assert stack_processes(private_stack.paths.root) == []
    assert not private_stack.status().running
    assert list(private_stack.paths.run_dir.glob("*.pid")) == []


def test_down_leaves_no_process_and_no_pid_file(
    private_stack: Stack, stack_processes: ProcScan
) -> None:
    private_stack.up()
    assert len(stack_processes(private_stack.paths.root)) == 2
    private_stack.down()
    assert stack_processes(private_stack.paths.root) == []
    assert list(private_stack.paths.run_dir.glob("*.pid")) == []
    private_stack.down()  # stopping a stopped stack is fine


def test_port_in_use_is_reported_and_nothing_is_left(
    private_stack: Stack, stack_processes: ProcScan
) -> None:
    with socket.socket() as squatter:
        squatter.bind((private_stack.config.host, private_stack.config.influx_port))
        squatter.listen()
        started = time.monotonic()
        with pytest.raises(PortInUseError) as caught:
            private_stack.up(timeout=10)
    assert caught.value.port == private_stack.config.influx_port
    assert time.monotonic() - started < 10
    # Mosquitto had started before influxd failed; up() stopped it again.
    assert stack_processes(private_stack.paths.root) == []


def test_password_hashes_are_the_ones_mosquitto_passwd_writes(tmp_path: Path) -> None:
    """Our PBKDF2 hash of a known salt matches Mosquitto's own tool, byte for byte."""
    passwd = find_binary(None, "mosquitto_passwd", "mosquitto")
    plain = tmp_path / "passwd"
    plain.write_text("gw-1:rahasia-sawah\n")
    subprocess.run([passwd, "-U", str(plain)], check=True, capture_output=True)
    theirs = plain.read_text().strip().split(":", 1)[1]
    salt = base64.b64decode(theirs.split("$")[3])
    assert users.hash_password("rahasia-sawah", salt) == theirs
