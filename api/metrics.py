"""Prometheus metrics of an API process, served on /metrics on their own port.

Requests are counted by route template (``/api/v1/fields/{field_id}/latest``, never the raw
path, so a scanner's random paths cannot grow the label set), method and status code, and timed
by route template, in a pure-ASGI middleware whose per-request work is a dict lookup, a counter
increment and a histogram observation. Cache hits and misses are read from the caches' own
counters at scrape time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import Counter, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.ttl_cache import TtlCache
from ops.prometheus import MetricsEndpoint

UNMATCHED = "unmatched"
# Anything else a client sends as a method is "other": the label set stays bounded.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class _CacheCollector(Collector):
    def __init__(self, caches: Callable[[], Iterable[TtlCache[Any, Any]]]) -> None:
        self._caches = caches

    def collect(self) -> Iterator[CounterMetricFamily]:
        hits = CounterMetricFamily(
            "tani_api_cache_hits", "lookups answered from a cache", labels=["cache"]
        )
        misses = CounterMetricFamily(
            "tani_api_cache_misses",
            "lookups a cache could not answer (absent or expired)",
            labels=["cache"],
        )
        for cache in self._caches():
            hit, missed = cache.counts()
            hits.add_metric([cache.name], hit)
            misses.add_metric([cache.name], missed)
        yield hits
        yield misses


class ApiMetrics(MetricsEndpoint):
    """The registry of one API process, and its HTTP endpoint once served."""

    def __init__(self, caches: Callable[[], Iterable[TtlCache[Any, Any]]]) -> None:
        super().__init__()
        self.registry.register(_CacheCollector(caches))
        self.requests = Counter(
            "tani_api_requests",
            "HTTP requests answered, by route template, method and status code",
            ["route", "method", "status"],
            registry=self.registry,
        )
        # Finer at the low end: the latest-conditions target is a 50 ms p95.
        self.request_seconds = Histogram(
            "tani_api_request_seconds",
            "time to answer an HTTP request, by route template",
            ["route"],
            buckets=(0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )


class RequestMetrics:
    """ASGI middleware counting and timing every HTTP request by its route template.

    Pure ASGI rather than BaseHTTPMiddleware, which costs a task and a stream per request.
    """

    def __init__(self, app: ASGIApp, metrics: ApiMetrics, routes: list[BaseRoute]) -> None:
        self.app = app
        self._metrics = metrics
        # FastAPI puts its own routes in scope["route"]; plain Starlette routes (/docs,
        # /openapi.json) leave only their endpoint there.
        self._plain = {r.endpoint: r.path_format for r in routes if isinstance(r, Route)}
        # Labelled children, looked up once: .labels() itself takes a lock and builds a tuple.
        self._counters: dict[tuple[str, str, int], Counter] = {}
        self._timers: dict[str, Histogram] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, then count it by route, method and status, and time it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # What the client gets when the app raises before answering (the server's 500).
        status = 500

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        route = scope.get("route")
        if route is not None:
            template = getattr(route, "path_format", UNMATCHED)
        else:
            template = self._plain.get(scope.get("endpoint"), UNMATCHED)
        method = scope["method"] if scope["method"] in METHODS else "other"
        key = (template, method, status)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = self._metrics.requests.labels(
                template, method, str(status)
            )
        counter.inc()
        timer = self._timers.get(template)
        if timer is None:
            timer = self._timers[template] = self._metrics.request_seconds.labels(template)
        timer.observe(seconds)
