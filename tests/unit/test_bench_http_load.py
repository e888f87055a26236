"""The bench's load generator: every answer read whole (by length or in chunks), statuses
counted, the Authorization header sent, and a server that closes is reconnected to."""

from __future__ import annotations

import random
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from tani.bench.api_load import Call, measure
from tests.unit.local_http import serving


@pytest.fixture
def server() -> Iterator[tuple[str, list[tuple[str, str | None]]]]:
    seen: list[tuple[str, str | None]] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            seen.append((self.path, self.headers.get("Authorization")))
            if self.path.startswith("/chunked"):
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for part in (b"abc", b"defgh"):
                    self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
                return
            body = b'{"ok": true}' if self.path.startswith("/ok") else b"not found"
            self.send_response(200 if self.path.startswith("/ok") else 404)
            self.send_header("Content-Length", str(len(body)))
            if "close" in self.path:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with serving(Handler) as url:
        yield url, seen


def test_answers_are_read_whole_and_counted_by_status(
    server: tuple[str, list[tuple[str, str | None]]],
) -> None:
    url, seen = server
    paths = ["/ok", "/chunked", "/missing", "/ok-close"]

    def calls(rng: random.Random) -> Call:
        return Call(rng.choice(paths), {"n": str(rng.randrange(9))}, token="rahasia")

    result = measure(url, calls, clients=4, requests=200, seed=1)
    assert result["ok"] + sum(result["errors"].values()) == 200
    assert set(result["errors"]) == {"404"}
    assert 0 < result["p50_ms"] <= result["p95_ms"] <= result["max_ms"]
    assert len(seen) == 200 + 4 * 3  # and the warm-up calls
    assert {auth for _, auth in seen} == {"Bearer rahasia"}
    assert all("?n=" in path for path, _ in seen)


def test_a_server_that_is_not_there_fails_the_run() -> None:
    with pytest.raises(RuntimeError, match="a client failed"):
        measure("http://127.0.0.1:9", lambda rng: Call("/ok"), clients=2, requests=4, seed=1)
