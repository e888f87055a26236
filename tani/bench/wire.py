"""Helpers the benchmarks share: byte and packet counting on the wire, a counting subscriber,
/proc reads.

What a prepaid SIM is billed for is IP packets. :class:`CountingRelay` sits in front of the
broker on loopback and counts, for the gateway's side of each connection, the bytes above TCP
(MQTT, or TLS records carrying it) and the TCP segments each way, from the kernel's own counters
(``TCP_INFO``: ``tcpi_segs_in``/``tcpi_segs_out``, which count wire-sized segments even when
loopback hands over larger buffers). Each segment costs a 20-byte IPv4 header and a 20-byte TCP
header with the 12 bytes of the timestamp option Linux uses at both ends (52 bytes); the two
SYNs of a connection carry 8 bytes more of options. Its listening socket announces a 1460-byte
MSS, as a host on a 1500-byte-MTU link does, so a TLS handshake or a large batch is cut into as
many segments as on a mobile link. Not counted: retransmissions (loopback loses nothing), DNS
lookups, NTP, and the operator rounding a session up to its billing unit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import struct
import threading
import time
from collections import Counter
from pathlib import Path

import paho.mqtt.client as mqtt

from telemetry.codec import decode_batch
from telemetry.topics import ALL_READINGS, ALL_STATUS, STATUS, parse_topic

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")

# The MSS a host on a 1500-byte-MTU link announces (1500 - 20 IPv4 - 20 TCP).
LINK_MSS = 1460
# IPv4 (20) + TCP (20) + the timestamp option (10, padded to 12) on every segment.
HEADER_BYTES = 52
# SYN and SYN-ACK carry MSS, SACK-permitted, timestamps and window scale: 20 bytes, not 12.
SYN_EXTRA_BYTES = 2 * 8
# struct tcp_info (linux/tcp.h): tcpi_segs_out and tcpi_segs_in, after the two 64-bit byte counts.
_TCP_INFO_SEGMENTS = struct.Struct("<II")
_TCP_INFO_SEGMENTS_AT = 136
_TLS_APPLICATION_DATA = 23


@dataclasses.dataclass(frozen=True, slots=True)
class WireCount:
    """What crossed the gateway's link: bytes above TCP, TCP segments, connections opened."""

    up_bytes: int = 0  # gateway -> broker, above TCP
    down_bytes: int = 0
    up_segments: int = 0  # TCP segments, pure ACKs, SYNs and FINs included
    down_segments: int = 0
    connections: int = 0
    handshake_bytes: int = 0  # TCP and TLS handshakes, headers included (TLS connections)

    @property
    def tcp_bytes(self) -> int:
        """Bytes above TCP, both ways."""
        return self.up_bytes + self.down_bytes

    @property
    def header_bytes(self) -> int:
        """IPv4 and TCP headers of every segment, both ways."""
        return (self.up_segments + self.down_segments) * HEADER_BYTES + (
            self.connections * SYN_EXTRA_BYTES
        )

    @property
    def ip_bytes(self) -> int:
        """What the mobile operator counts: every IP packet, both ways."""
        return self.tcp_bytes + self.header_bytes

    def __sub__(self, other: WireCount) -> WireCount:
        return WireCount(
            *(getattr(self, f.name) - getattr(other, f.name) for f in dataclasses.fields(self))
        )


class _TlsScanner:
    """Follows TLS record boundaries in one direction, to see the first application record."""

    def __init__(self) -> None:
        self._header = b""
        self._left = 0

    def application_data_in(self, data: bytes) -> bool:
        """Whether an application-data record starts in ``data`` (the next bytes of the stream)."""
        pos, found = 0, False
        while pos < len(data):
            if self._left:
                step = min(self._left, len(data) - pos)
                self._left -= step
                pos += step
                continue
            piece = data[pos : pos + 5 - len(self._header)]
            found |= not self._header and piece[0] == _TLS_APPLICATION_DATA
            self._header += piece
            pos += len(piece)
            if len(self._header) == 5:
                self._left = int.from_bytes(self._header[3:5], "big")
                self._header = b""
        return found


class _Link:
    """One relayed connection: the gateway's socket, the broker's, and their counts."""

    def __init__(self, client: socket.socket, upstream: socket.socket, tls: bool) -> None:
        self.client = client
        self.upstream = upstream
        self.up_bytes = 0
        self.down_bytes = 0
        self.handshake_bytes = 0
        self._tls = _TlsScanner() if tls else None

    def segments(self) -> tuple[int, int]:
        """(gateway -> broker, broker -> gateway) segments so far, from the kernel."""
        try:
            raw = self.client.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
        except OSError:  # closed by CountingRelay.close()
            return 0, 0
        out, into = _TCP_INFO_SEGMENTS.unpack_from(raw, _TCP_INFO_SEGMENTS_AT)
        # An accepted socket does not count the SYN-ACK its listener sent.
        return into, out + 1

    def count_up(self, data: bytes) -> None:
        """Bytes from the gateway; the first TLS application record ends the handshakes."""
        self.up_bytes += len(data)
        if self._tls is not None and self._tls.application_data_in(data):
            self._tls = None
            up, down = self.segments()
            self.handshake_bytes = (
                self.up_bytes + self.down_bytes + (up + down) * HEADER_BYTES + SYN_EXTRA_BYTES
            )


class CountingRelay:
    """A loopback TCP relay in front of the broker that counts what the gateway's link carries.

    ``tls``: the gateway speaks TLS through it, so the relay can tell the handshake (every byte
    up to the gateway's first application record) from the rest. Under TLS 1.3, what paho and
    Mosquitto speak, that record is the gateway's encrypted Finished message: the session
    tickets the broker sends after it count with the connection, not with the handshake.
    """

    def __init__(self, target: tuple[str, int], tls: bool = False) -> None:
        self.target = target
        self._tls = tls
        self._lock = threading.Lock()
        self._links: list[_Link] = []
        self._baseline = WireCount()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Set before listen(): the accepted sockets announce this MSS in their SYN-ACK.
        self._listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, LINK_MSS)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen()
        self.port = self._listener.getsockname()[1]
        self._stopping = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def count(self) -> WireCount:
        """Everything counted since the last :meth:`reset`."""
        with self._lock:
            links = list(self._links)
            totals = [0, 0, 0, 0]
            handshakes = 0
            for link in links:
                up, down = link.segments()
                totals[0] += link.up_bytes
                totals[1] += link.down_bytes
                totals[2] += up
                totals[3] += down
                handshakes += link.handshake_bytes
        return WireCount(*totals, len(links), handshakes) - self._baseline

    @property
    def upstream_bytes(self) -> int:
        """Bytes above TCP from the gateway since the last reset."""
        return self.count().up_bytes

    @property
    def downstream_bytes(self) -> int:
        """Bytes above TCP to the gateway since the last reset."""
        return self.count().down_bytes

    def reset(self) -> None:
        """Start counting from zero."""
        self._baseline = WireCount()
        self._baseline = self.count()

    def close(self) -> None:
        """Stop relaying and close every socket."""
        self._stopping.set()
        # shutdown() wakes the accept() of the relay's thread; close() alone would not.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            sockets = [s for link in self._links for s in (link.client, link.upstream)]
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join()
        for sock in sockets:
            sock.close()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            link = _Link(client, upstream, self._tls)
            # Sockets stay open (half-closed) until close(): the kernel's counters of a closed
            # connection stay readable, FIN and its ACK included.
            with self._lock:
                self._links.append(link)
            for src, dst, up in ((client, upstream, True), (upstream, client, False)):
                pipe = threading.Thread(target=self._pipe, args=(link, src, dst, up), daemon=True)
                self._threads.append(pipe)
                pipe.start()

    def _pipe(self, link: _Link, src: socket.socket, dst: socket.socket, up: bool) -> None:
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
                    link.count_up(data)
                else:
                    link.down_bytes += len(data)
            try:
                dst.sendall(data)
            except OSError:
                return


class ReadingCounter:
    """A service-user subscriber that counts readings (and their payload bytes) as they arrive,
    how long they took to arrive, and each gateway's "online" status messages."""

    def __init__(self, host: str, port: int, username: str, password: str) -> None:
        self.readings = 0
        self.payload_bytes = 0
        self.messages = 0
        self.by_gateway: Counter[str] = Counter()
        self.by_device: Counter[str] = Counter()
        self.online: Counter[str] = Counter()
        # Reading time to arrival here, for readings stamped with a trusted time.
        self.delay_ms_sum = 0
        self.delay_ms_max = 0
        self._lock = threading.Lock()
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{os.getpid()}", protocol=mqtt.MQTTv5
        )
        self._client.username_pw_set(username, password)
        self._client.on_message = self._on_message
        self._client.connect(host, port)
        self._client.subscribe([(ALL_READINGS, 1), (ALL_STATUS, 1)])
        self._client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        arrived_ms = time.time_ns() // 1_000_000
        topic = parse_topic(msg.topic)
        if topic.kind == STATUS:
            if json.loads(msg.payload).get("state") == "online":
                with self._lock:
                    self.online[topic.gateway_id] += 1
            return
        batch = decode_batch(msg.payload, topic.gateway_id)
        delays = [arrived_ms - r.time_ms for r in batch.readings if r.time_trusted]
        with self._lock:
            self.messages += 1
            self.readings += len(batch.readings)
            self.payload_bytes += len(msg.payload)
            self.by_gateway[topic.gateway_id] += len(batch.readings)
            self.by_device.update(r.device_id for r in batch.readings)
            self.delay_ms_sum += sum(delays)
            self.delay_ms_max = max(self.delay_ms_max, *delays, 0)

    def snapshot(self) -> Arrivals:
        """Readings and payload bytes so far, their delays, and restart the maximum delay."""
        with self._lock:
            snapshot = Arrivals(
                self.readings, self.payload_bytes, self.delay_ms_sum, self.delay_ms_max
            )
            self.delay_ms_max = 0
        return snapshot

    def close(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()


@dataclasses.dataclass(frozen=True, slots=True)
class Arrivals:
    """What a :class:`ReadingCounter` had seen at one moment."""

    readings: int
    payload_bytes: int
    delay_ms_sum: int
    delay_ms_max: int  # since the previous snapshot


def process_rss_mb(pid: int) -> float:
    """Resident memory of a process, MB."""
    fields = Path(f"/proc/{pid}/statm").read_text().split()
    return int(fields[1]) * _PAGE / 1e6


def process_cpu_s(pid: int) -> float:
    """User plus system CPU seconds a process has used."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def child_pids(pid: int) -> list[int]:
    """The process ids of a process's running children (from every thread of it)."""
    return [
        int(child)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    ]


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process and its running children (a supervisor and its workers)."""
    return process_cpu_s(pid) + sum(process_cpu_s(child) for child in child_pids(pid))
