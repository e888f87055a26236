"""Writes to /write over kept-alive connections: what reaches the server, and every failure.

A real HTTP server on 127.0.0.1 stands in for InfluxDB's /write (the integration tests write to
a real influxd); it answers what each test asks and can drop a kept-alive connection silently,
as a server does with an idle one.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

import pytest

from storage.influx import InfluxDB, InfluxMisconfigured, InfluxRejected, InfluxUnavailable
from storage.line_posts import LinePosts
from tests.unit.local_http import serving


@dataclass
class _Seen:
    requests: list[tuple[str, dict[str, str], bytes, tuple[str, int]]] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # statuses to give, in order; then 204
    drop_after_answer: bool = False  # close the connection silently after answering


@pytest.fixture
def server() -> Iterator[tuple[str, _Seen]]:
    seen = _Seen()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.requests.append((self.path, dict(self.headers), body, self.client_address))
            status = seen.answers.pop(0) if seen.answers else 204
            text = b"" if status == 204 else b'{"error":"refused"}'
            self.send_response(status)
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)
            self.close_connection = seen.drop_after_answer

        def log_message(self, *args: object) -> None:
            pass

    with serving(Handler) as url:
        yield url, seen


def test_lines_reach_write_with_the_database_auth_and_a_kept_connection(
    server: tuple[str, _Seen],
) -> None:
    url, seen = server
    influx = InfluxDB(f"{url}/influx/", "desa", username="tani", password="rahasia")
    try:
        influx.write_lines(["a value=1 1", "a value=2 2"])
        influx.write_lines(["a value=3 3"], retention_policy="rollup")
    finally:
        influx.close()
    (path1, headers, body, client1), (path2, _, _, client2) = seen.requests
    assert path1 == "/influx/write?db=desa&precision=ms"
    assert path2 == "/influx/write?db=desa&precision=ms&rp=rollup"
    assert body == b"a value=1 1\na value=2 2"
    assert headers["Authorization"] == "Basic dGFuaTpyYWhhc2lh"
    assert client1 == client2  # the same connection, kept alive


def test_a_token_goes_in_the_token_header(server: tuple[str, _Seen]) -> None:
    url, seen = server
    influx = InfluxDB(url, "desa", username="ignored", token="s3cret")
    try:
        influx.write_lines(["a value=1 1"])
    finally:
        influx.close()
    assert seen.requests[0][1]["Authorization"] == "Token s3cret"


def test_a_connection_the_server_closed_while_idle_is_replaced_and_the_write_kept(
    server: tuple[str, _Seen],
) -> None:
    url, seen = server
    seen.drop_after_answer = True
    posts = LinePosts(url, 5.0)
    try:
        for n in range(3):
            assert posts.post({"db": "desa"}, f"a value={n} {n}".encode())[0] == 204
    finally:
        posts.close()
    assert [r[2] for r in seen.requests] == [b"a value=0 0", b"a value=1 1", b"a value=2 2"]
    assert len({r[3] for r in seen.requests}) == 3  # each on a new connection


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, InfluxRejected),
        (401, InfluxMisconfigured),
        (404, InfluxMisconfigured),
        (429, InfluxUnavailable),
        (503, InfluxUnavailable),
    ],
)
def test_error_answers_say_whether_to_retry(
    server: tuple[str, _Seen], status: int, error: type[Exception]
) -> None:
    url, seen = server
    seen.answers.append(status)
    influx = InfluxDB(url, "desa")
    try:
        with pytest.raises(error) as raised:
            influx.write_lines(["a value=1 1"])
        assert str(status) in str(raised.value)
        influx.write_lines(["a value=1 1"])  # the connection is still usable
    finally:
        influx.close()
    assert type(raised.value) is error  # 400 is the points' fault, 401/404 the setup's


def test_nothing_listening_is_worth_retrying() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    influx = InfluxDB(f"http://127.0.0.1:{port}", "desa")
    try:
        with pytest.raises(InfluxUnavailable, match="did not answer"):
            influx.write_lines(["a value=1 1"])
    finally:
        influx.close()


def test_threads_write_on_connections_of_their_own(server: tuple[str, _Seen]) -> None:
    url, seen = server
    posts = LinePosts(url, 5.0)
    start = threading.Barrier(4)

    def write(n: int) -> None:
        start.wait()
        for k in range(5):
            posts.post({"db": "desa"}, f"a,t={n} value={k} {k}".encode())

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        posts.close()
    assert len(seen.requests) == 20
    assert len({r[3] for r in seen.requests}) == 4
