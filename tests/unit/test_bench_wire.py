"""What ``tani bench gateway`` counts on the wire: bytes above TCP, segments, TLS handshakes."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tani.bench.tls_broker import make_certificates
from tani.bench.wire import (
    HEADER_BYTES,
    LINK_MSS,
    SYN_EXTRA_BYTES,
    CountingRelay,
    WireCount,
    _TlsScanner,
)


def _wait(condition: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


@pytest.fixture
def echo() -> Iterator[tuple[str, int]]:
    """A server for one connection that answers each line with ``ok``."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            while data := conn.recv(65536):
                if data.endswith(b"\n"):
                    conn.sendall(b"ok")

    thread = threading.Thread(target=serve)
    thread.start()
    yield server.getsockname()
    thread.join()
    server.close()


def test_ip_bytes_are_the_bytes_above_tcp_plus_52_bytes_a_segment() -> None:
    count = WireCount(up_bytes=100, down_bytes=20, up_segments=3, down_segments=2, connections=1)
    assert count.tcp_bytes == 120
    assert count.header_bytes == 5 * HEADER_BYTES + SYN_EXTRA_BYTES
    assert count.ip_bytes == 120 + 5 * 52 + 16
    assert count - count == WireCount()


def test_the_relay_counts_bytes_and_cuts_segments_as_a_1500_byte_link(echo) -> None:
    relay = CountingRelay(echo)
    try:
        with socket.create_connection(("127.0.0.1", relay.port)) as client:
            client.sendall(b"x" * 9_999 + b"\n")
            assert client.recv(10) == b"ok"
            assert _wait(lambda: relay.count().down_bytes == 2)
            count = relay.count()
            assert (count.up_bytes, count.connections) == (10_000, 1)
            # SYN, the handshake's ACK and at least 7 full segments of data go up; SYN-ACK, at
            # least one ACK of the data and the answer come down.
            assert count.up_segments >= 2 + -(-10_000 // (LINK_MSS - 12))
            assert count.down_segments >= 3
            relay.reset()
            assert relay.count() == WireCount()
            client.sendall(b"y\n")
            assert client.recv(10) == b"ok"
            assert _wait(lambda: relay.count().down_bytes == 2)
            assert relay.count().up_bytes == 2
    finally:
        relay.close()


def test_a_tls_handshake_ends_at_the_first_application_record(tmp_path: Path) -> None:
    ca_file, chain, key = make_certificates(tmp_path)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # TLS 1.2 sends no encrypted record before the handshake ends (1.3 sends its Finished so).
    server_context.maximum_version = ssl.TLSVersion.TLSv1_2
    server_context.load_cert_chain(chain, key)
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = server.accept()
        with server_context.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(tls.recv(100))

    thread = threading.Thread(target=serve)
    thread.start()
    relay = CountingRelay(server.getsockname(), tls=True)
    try:
        client_context = ssl.create_default_context(cafile=str(ca_file))
        with (
            socket.create_connection(("127.0.0.1", relay.port)) as raw,
            client_context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            assert relay.count().handshake_bytes == 0  # no application record yet
            tls.sendall(b"hello")
            assert tls.recv(100) == b"hello"
            count = relay.count()
        # Both chain certificates crossed during the handshake, headers on top.
        assert count.handshake_bytes > chain.stat().st_size * 3 // 4
        assert count.handshake_bytes < count.ip_bytes
    finally:
        relay.close()
        thread.join()
        server.close()


@pytest.mark.parametrize("cut", [1, 3, 5, 7, 100])
def test_tls_records_are_followed_across_any_split(cut: int) -> None:
    handshake = bytes([22, 3, 3, 0, 4]) + b"abcd" + bytes([20, 3, 3, 0, 1]) + b"\x01"
    stream = handshake + bytes([23, 3, 3, 0, 2]) + b"zz"
    scanner = _TlsScanner()
    found = [scanner.application_data_in(stream[i : i + cut]) for i in range(0, len(stream), cut)]
    first = found.index(True)
    assert first * cut <= len(handshake) < (first + 1) * cut
    # An application record's body that looks like a header is not taken for one.
    assert not _TlsScanner().application_data_in(bytes([22, 3, 3, 0, 5]) + bytes([23]) * 5)
