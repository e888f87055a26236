"""The API's Prometheus metrics (api/metrics.py), scraped over HTTP from their own port."""

from __future__ import annotations

import contextlib
import os
import urllib.request
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from api.config import ApiConfig, InfluxSettings
from tests.unit.api_support import running_site

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _get(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_requests_are_counted_and_timed_by_route_template(tmp_path: Path) -> None:
    with running_site(tmp_path, metrics_port=0) as site:
        app = site.client.app
        port = app.state.metrics.port  # type: ignore[attr-defined]
        budi = site.auth("budi")
        for _ in range(3):
            # No InfluxDB behind the site: the readings query answers 503.
            site.client.get("/api/v1/fields/sawah-budi/latest", headers=budi)
        site.client.get("/api/v1/fields/sawah-siti/latest", headers=budi)  # not hers: 404
        site.client.get("/api/v1/me", headers=budi)
        site.client.get("/tidak/ada/apa-apa")
        site.client.post("/api/v1/me", headers=budi)
        site.client.get("/openapi.json")
        samples = _scrape(port)

    route = "/api/v1/fields/{field_id}/latest"
    requests = "tani_api_requests_total"
    assert _get(samples, requests, route=route, method="GET", status="503") == 3
    assert _get(samples, requests, route=route, method="GET", status="404") == 1
    assert _get(samples, requests, route="/api/v1/me", method="GET", status="200") == 1
    assert _get(samples, requests, route="/api/v1/me", method="POST", status="405") == 1
    assert _get(samples, requests, route="unmatched", method="GET", status="404") == 1
    assert _get(samples, requests, route="/openapi.json", method="GET", status="200") == 1
    # Raw paths never become labels.
    assert not any("sawah" in value for _, labels in samples for _, value in labels)
    assert _get(samples, "tani_api_request_seconds_count", route=route) == 4
    assert _get(samples, "tani_api_request_seconds_bucket", route=route, le="+Inf") == 4
    assert _get(samples, "tani_api_request_seconds_sum", route=route) > 0


def test_cache_hits_and_misses_per_cache(tmp_path: Path) -> None:
    with running_site(tmp_path, metrics_port=0) as site:
        port = site.client.app.state.metrics.port  # type: ignore[attr-defined]
        for _ in range(3):
            site.client.get("/api/v1/me", headers=site.auth("budi"))
        site.client.get("/api/v1/fields/sawah-budi/latest", headers=site.auth("budi"))
        samples = _scrape(port)

    # The token's principal: asked for four times, found in the cache after the first.
    assert _get(samples, "tani_api_cache_misses_total", cache="auth") == 1
    assert _get(samples, "tani_api_cache_hits_total", cache="auth") == 3
    # The field's registry entry (cached) and its readings (the site turns that cache off).
    assert _get(samples, "tani_api_cache_misses_total", cache="fields") == 1
    assert _get(samples, "tani_api_cache_misses_total", cache="latest") == 1
    assert _get(samples, "tani_api_cache_hits_total", cache="latest") == 0
    assert ("tani_api_cache_hits_total", frozenset({("cache", "summary")})) in samples


def _listening_ports() -> set[int]:
    """TCP ports this process listens on (its sockets' inodes in /proc/net/tcp, LISTEN)."""
    inodes = set()
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and fields[9] in inodes:
            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


@pytest.mark.parametrize("metrics_port", [None, 0])
def test_a_port_is_listened_on_only_when_metrics_port_is_set(
    tmp_path: Path, metrics_port: int | None
) -> None:
    config = ApiConfig(
        registry_url=f"sqlite:///{tmp_path / 'registry.sqlite3'}",
        influx=InfluxSettings(url="http://127.0.0.1:9"),
        metrics_port=metrics_port,
    )
    app = create_app(config)
    before = _listening_ports()
    with TestClient(app) as client:
        assert client.get("/openapi.json").status_code == 200
        opened = _listening_ports() - before
        middleware = {m.cls.__name__ for m in app.user_middleware}  # type: ignore[attr-defined]
    if metrics_port is None:
        assert opened == set()
        assert app.state.metrics is None
        assert "RequestMetrics" not in middleware
    else:
        assert opened == {app.state.metrics.port}
        assert "RequestMetrics" in middleware
    assert _listening_ports() == before  # closed with the app
