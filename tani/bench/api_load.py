"""The clients of ``tani bench api``: the real API in a process of its own, and concurrent callers.

- :func:`api_server`: ``tani api --config`` (uvicorn, one process) on a free port, as
  production runs it, so its CPU and GIL are its own and not the clients'.
- :func:`measure`: ``clients`` concurrent clients, each on a kept-alive HTTP/1.1 connection of
  its own, call one after another without pause (closed loop: the harshest reading of "20
  concurrent clients") until ``requests`` calls are done; a few calls per client first warm up
  and are not counted. Every non-2xx answer is counted as an error and kept out of the
  latencies. The clients are coroutines on one event loop with raw sockets, as a load
  generator's are: twenty threads of httpx spent 0.62 ms of CPU a request and waited for each
  other's GIL, which the bench counted as the API's latency on a 2-core machine.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

# `tani api` in a process of its own, as production runs it.
_API = (sys.executable, "-c", "from tani.cli import app; app()", "api")
WARMUP_PER_CLIENT = 3


@dataclass(frozen=True, slots=True)
class Call:
    """One request: path, query parameters and bearer token (None: no Authorization)."""

    path: str
    params: dict[str, str] | None = None
    token: str | None = None


def api_toml(
    port: int,
    influx_url: str,
    database: str,
    mqtt_port: int,
    registry_url: str,
    workers: int = 1,
    caches: bool = True,
) -> str:
    """An API config file for the bench stack (its caches at their defaults, or off)."""
    return "\n".join(
        [
            'host = "127.0.0.1"',
            f"port = {port}",
            f"workers = {workers}",
            f'registry_url = "{registry_url}"',
            *([] if caches else ["latest_cache_s = 0", "auth_cache_s = 0", "summary_cache_s = 0"]),
            "[influx]",
            f'url = "{influx_url}"',
            f'database = "{database}"',
            "[broker]",
            'host = "127.0.0.1"',
            f"port = {mqtt_port}",
            "",
        ]
    )


@contextmanager
def api_server(config_path: Path, port: int, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``tani api`` until the block ends; wait until ``/healthz`` answers."""
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [*_API, "--config", str(config_path), "--log-level", "warning"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"tani api exited with {process.returncode}: {tail}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("tani api did not answer /healthz within 60 s")
            time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def percentile(ordered: list[float], fraction: float) -> float | None:
    """The ``fraction`` percentile of sorted values (inclusive method), None when empty."""
    if not ordered:
        return None
    if len(ordered) == 1:
        return ordered[0]
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return cuts[round(fraction * 100) - 1]


def measure(
    base_url: str,
    calls: Callable[[random.Random], Call],
    clients: int,
    requests: int,
    seed: int,
    timeout_s: float = 60.0,
) -> dict[str, Any]:
    """Latency figures (ms) of ``requests`` calls made by ``clients`` concurrent clients."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    sizes: list[int] = []
    split = urlsplit(base_url)
    host, port = split.hostname or "127.0.0.1", split.port or 80
    remaining = [requests]

    warmed = [0]

    async def client(k: int, ready: asyncio.Event, start: asyncio.Event) -> None:
        rng = random.Random(seed * 1000 + k)
        connection = _Connection(host, port, timeout_s)
        try:
            for _ in range(WARMUP_PER_CLIENT):
                await connection.call(calls(rng))
            warmed[0] += 1
            if warmed[0] == clients:
                ready.set()
            await start.wait()
            while remaining[0] > 0:
                remaining[0] -= 1
                call = calls(rng)
                began = time.perf_counter()
                status, size = await connection.call(call)
                seconds = time.perf_counter() - began
                if 200 <= status < 300:
                    latencies.append(seconds * 1000)
                    sizes.append(size)
                else:
                    errors[str(status)] = errors.get(str(status), 0) + 1
        finally:
            connection.close()

    async def run() -> float:
        ready, start = asyncio.Event(), asyncio.Event()
        tasks = [asyncio.create_task(client(k, ready, start)) for k in range(clients)]
        # Every client warmed up (connected, first answers in) before the clock starts; a
        # client that ends before then failed.
        waiter = asyncio.create_task(ready.wait())
        done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            for task in (waiter, *tasks):
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for task in done:
                task.result()
        began = time.perf_counter()
        start.set()
        await asyncio.gather(*tasks)
        return time.perf_counter() - began

    try:
        elapsed = asyncio.run(run())
    except (OSError, asyncio.IncompleteReadError, _BadAnswer) as exc:  # timeouts are OSErrors
        raise RuntimeError(f"a client failed: {exc!r}") from exc
    ordered = sorted(latencies)

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value, 2)

    return {
        "requests": requests,
        "ok": len(ordered),
        "errors": errors,
        "seconds": round(elapsed, 3),
        "requests_per_s": round(requests / elapsed, 1) if elapsed > 0 else None,
        "p50_ms": ms(percentile(ordered, 0.50)),
        "p95_ms": ms(percentile(ordered, 0.95)),
        "p99_ms": ms(percentile(ordered, 0.99)),
        "max_ms": ms(ordered[-1] if ordered else None),
        "mean_ms": ms(statistics.fmean(ordered) if ordered else None),
        "mean_response_bytes": round(statistics.fmean(sizes)) if sizes else None,
    }


class _BadAnswer(Exception):
    """The server's answer is not HTTP/1.1 as expected."""


class _Connection:
    """One kept-alive HTTP/1.1 connection, as lean as a load generator's (wrk, hey): a
    request is a few bytes written and the answer read by its Content-Length, so the clients'
    CPU (they share the machine with the API) stays small next to the server's."""

    def __init__(self, host: str, port: int, timeout_s: float) -> None:
        self._host, self._port, self._timeout_s = host, port, timeout_s
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def call(self, call: Call) -> tuple[int, int]:
        """Send one GET; (status, body bytes)."""
        return await asyncio.wait_for(self._call(call), self._timeout_s)

    async def _call(self, call: Call) -> tuple[int, int]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        reader, writer = self._reader, self._writer
        assert reader is not None
        target = call.path + (f"?{urlencode(call.params)}" if call.params else "")
        auth = f"Authorization: Bearer {call.token}\r\n" if call.token else ""
        writer.write(
            f"GET {target} HTTP/1.1\r\nHost: {self._host}:{self._port}\r\n"
            f"Accept-Encoding: gzip\r\n{auth}\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise _BadAnswer(f"status line {lines[0]!r}")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip().lower()
        if headers.get("transfer-encoding") == "chunked":
            size = 0
            while True:
                chunk = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await reader.readexactly(chunk + 2)
                size += chunk
                if chunk == 0:
                    break
        else:
            size = int(headers.get("content-length", "0"))
            await reader.readexactly(size)
        if headers.get("connection") == "close":
            self.close()
        return int(parts[1]), size

    def close(self) -> None:
        """Close the connection (the next call opens another)."""
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None
