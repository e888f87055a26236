"""The clients of ``tani bench api``: the real API in a process of its own, and concurrent callers.

- :func:`api_server`: ``tani api --config`` (uvicorn, one process) on a free port, as
  production runs it, so its CPU and GIL are its own and not the clients'.
- :func:`measure`: ``clients`` threads, each with its own ``httpx.Client`` (keep-alive), call
  one after another without pause (closed loop: the harshest reading of "20 concurrent
  clients") until ``requests`` calls are done; a few calls per client first warm up and are
  not counted. Every non-2xx answer is counted as an error and kept out of the latencies.
"""

from __future__ import annotations

import random
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    caches: bool = True,
) -> str:
    """An API config file for the bench stack (its caches at their defaults, or off)."""
    return "\n".join(
        [
            'host = "127.0.0.1"',
            f"port = {port}",
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
    failures: list[str] = []
    remaining = [requests]
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def client(k: int) -> None:
        try:
            _client(k)
        except threading.BrokenBarrierError:
            pass
        except Exception as exc:
            failures.append(repr(exc))
            start.abort()

    def _client(k: int) -> None:
        rng = random.Random(seed * 1000 + k)
        with httpx.Client(base_url=base_url, timeout=timeout_s) as http:

            def call() -> tuple[float, int, int]:
                c = calls(rng)
                headers = {"Authorization": f"Bearer {c.token}"} if c.token else None
                began = time.perf_counter()
                response = http.get(c.path, params=c.params, headers=headers)
                body = response.content
                return time.perf_counter() - began, response.status_code, len(body)

            for _ in range(WARMUP_PER_CLIENT):
                call()
            start.wait()
            while True:
                with lock:
                    if remaining[0] <= 0:
                        return
                    remaining[0] -= 1
                seconds, status, size = call()
                with lock:
                    if 200 <= status < 300:
                        latencies.append(seconds * 1000)
                        sizes.append(size)
                    else:
                        errors[str(status)] = errors.get(str(status), 0) + 1

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    for thread in threads:
        thread.start()
    with suppress(threading.BrokenBarrierError):
        start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if failures:
        raise RuntimeError(f"{len(failures)} client(s) failed, first: {failures[0]}")
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
