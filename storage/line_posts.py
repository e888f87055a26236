"""Line protocol POSTed to InfluxDB's ``/write`` over kept-alive connections, one per thread.

Ingest's hot path writes a batch every few milliseconds. httpx spent about 500 us of CPU on
each such request (measured under ``tani bench ingest``), the standard library's
``http.client`` about 70 us for the same 1,000-line body: at the batch sizes ingest writes at
moderate rates that was a sixth of its CPU per reading. Queries keep httpx
(``storage.influx``); only this one request, always the same shape, takes the lean way.

A connection the server closed while idle fails on first use; the write is then sent once more
on a new connection (writing the same points twice stores them once).
"""

from __future__ import annotations

import base64
import http.client
import threading
from urllib.parse import urlencode, urlsplit


class LinePosts:
    """POSTs bodies to one InfluxDB URL's ``/write``; thread-safe (a connection per thread)."""

    def __init__(
        self,
        url: str,
        timeout_s: float,
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"InfluxDB URL {url!r} is not http(s)://host[:port][/path]")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._path = parts.path.rstrip("/") + "/write"
        self._timeout_s = timeout_s
        self._headers = {"Content-Type": "text/plain; charset=utf-8", "Accept-Encoding": "identity"}
        if token:
            self._headers["Authorization"] = f"Token {token}"
        elif username:
            pair = f"{username}:{password or ''}".encode()
            self._headers["Authorization"] = f"Basic {base64.b64encode(pair).decode()}"
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: set[http.client.HTTPConnection] = set()

    def post(self, params: dict[str, str], body: bytes) -> tuple[int, str]:
        """POST ``body`` to ``/write?params``; the answer's status and the start of its text.

        Raises ``OSError`` or ``http.client.HTTPException`` when no answer came.
        """
        target = f"{self._path}?{urlencode(params)}"
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            try:
                return self._send(connection, target, body)
            except (ConnectionError, http.client.HTTPException):
                # Most likely closed by the server while idle: once more on a new connection.
                self._drop(connection)
        connection = self._connect()
        try:
            return self._send(connection, target, body)
        except (OSError, http.client.HTTPException):
            self._drop(connection)
            raise

    def close(self) -> None:
        """Close every thread's connection (a later post opens a new one)."""
        with self._lock:
            connections, self._open = self._open, set()
        for connection in connections:
            connection.close()
        self._local = threading.local()

    def _send(
        self, connection: http.client.HTTPConnection, target: str, body: bytes
    ) -> tuple[int, str]:
        connection.request("POST", target, body=body, headers=self._headers)
        response = connection.getresponse()
        text = response.read()  # read to the end, or the connection cannot be used again
        if response.will_close:
            self._drop(connection)
        return response.status, text[:400].decode(errors="replace")

    def _connect(self) -> http.client.HTTPConnection:
        kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        connection = kind(self._host, self._port, timeout=self._timeout_s)
        with self._lock:
            self._open.add(connection)
        self._local.connection = connection
        return connection

    def _drop(self, connection: http.client.HTTPConnection) -> None:
        connection.close()
        with self._lock:
            self._open.discard(connection)
        if getattr(self._local, "connection", None) is connection:
            self._local.connection = None
