"""Helpers the benchmarks share: a byte-counting TCP relay, a counting subscriber, /proc reads."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections import Counter
from pathlib import Path

import paho.mqtt.client as mqtt

from telemetry.codec import decode_batch
from telemetry.topics import ALL_READINGS, parse_topic

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


class CountingRelay:
    """A loopback TCP relay in front of the broker that counts the bytes in each direction.

    What it counts is what a prepaid modem would carry above TCP: every MQTT packet (CONNECT,
    PUBLISH, PUBACK, PINGREQ, ...), not the TCP/IP headers.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.upstream_bytes = 0
        self.downstream_bytes = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stopping = threading.Event()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def reset(self) -> None:
        """Start counting from zero."""
        with self._lock:
            self.upstream_bytes = self.downstream_bytes = 0

    def close(self) -> None:
        """Stop relaying and close every socket."""
        self._stopping.set()
        self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._sockets += [client, upstream]
            for src, dst, up in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._pipe, args=(src, dst, up), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, up: bool) -> None:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                with contextlib.suppress(OSError):
                    dst.shutdown(socket.SHUT_WR)
                return
            with self._lock:
                if up:
                    self.upstream_bytes += len(data)
                else:
                    self.downstream_bytes += len(data)
            try:
                dst.sendall(data)
            except OSError:
                return


class ReadingCounter:
    """A service-user subscriber that counts readings (and their payload bytes) as they arrive."""

    def __init__(self, host: str, port: int, username: str, password: str) -> None:
        self.readings = 0
        self.payload_bytes = 0
        self.messages = 0
        self.by_gateway: Counter[str] = Counter()
        self.by_device: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{os.getpid()}", protocol=mqtt.MQTTv5
        )
        self._client.username_pw_set(username, password)
        self._client.on_message = self._on_message
        self._client.connect(host, port)
        self._client.subscribe(ALL_READINGS, qos=1)
        self._client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        gateway_id = parse_topic(msg.topic).gateway_id
        batch = decode_batch(msg.payload, gateway_id)
        with self._lock:
            self.messages += 1
            self.readings += len(batch.readings)
            self.payload_bytes += len(msg.payload)
            self.by_gateway[gateway_id] += len(batch.readings)
            self.by_device.update(r.device_id for r in batch.readings)

    def close(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()


def process_rss_mb(pid: int) -> float:
    """Resident memory of a process, MB."""
    fields = Path(f"/proc/{pid}/statm").read_text().split()
    return int(fields[1]) * _PAGE / 1e6


def process_cpu_s(pid: int) -> float:
    """User plus system CPU seconds a process has used."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
