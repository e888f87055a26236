"""The API's per-field cache of latest readings (api/latest.py)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from api import latest, ttl_cache
from api.latest import LatestReadings
from storage.influx import InfluxDB, InfluxUnavailable
from storage.queries import LatestValue


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Queries:
    """Stands in for InfluxDB's answers; counts the queries asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, tuple[str, ...]]] = []
        self.value = 30.0
        self.down = False

    def __call__(
        self, _influx: InfluxDB, field_id: str, devices: Sequence[str] = ()
    ) -> list[LatestValue]:
        self.asked.append((field_id, tuple(devices)))
        if self.down:
            raise InfluxUnavailable("connection refused")
        return [LatestValue("soil_moisture", "soil-1", self.value, "%", 1, "good")]


@pytest.fixture
def queries(monkeypatch: pytest.MonkeyPatch) -> Queries:
    fake = Queries()
    monkeypatch.setattr(latest, "latest_for_field", fake)
    return fake


def test_answers_are_reused_for_ttl_seconds_per_field(queries: Queries) -> None:
    clock = Clock()
    cache = LatestReadings(InfluxDB("http://127.0.0.1:9", "x"), 10, clock)
    first = cache.of_field("sawah", ["soil-1"])
    queries.value = 31.0
    clock.now += 9.9
    assert cache.of_field("sawah", ["soil-1"]) == first
    assert cache.of_field("ladang")[0].value == 31.0  # another field is its own entry
    clock.now += 0.1
    assert cache.of_field("sawah", ["soil-1"])[0].value == 31.0
    assert queries.asked == [("sawah", ("soil-1",)), ("ladang", ()), ("sawah", ("soil-1",))]


def test_zero_ttl_asks_every_time_and_failures_are_not_kept(queries: Queries) -> None:
    clock = Clock()
    uncached = LatestReadings(InfluxDB("http://127.0.0.1:9", "x"), 0, clock)
    uncached.of_field("sawah")
    uncached.of_field("sawah")
    assert len(queries.asked) == 2

    cached = LatestReadings(InfluxDB("http://127.0.0.1:9", "x"), 10, clock)
    queries.down = True
    with pytest.raises(InfluxUnavailable):
        cached.of_field("sawah")
    queries.down = False
    assert cached.of_field("sawah")[0].value == 30.0
    assert len(queries.asked) == 4


def test_the_cache_stays_bounded(queries: Queries, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ttl_cache, "MAX_ENTRIES", 3)
    clock = Clock()
    cache = LatestReadings(InfluxDB("http://127.0.0.1:9", "x"), 10, clock)
    for name in ("a", "b", "c"):
        cache.of_field(name)
    clock.now += 5
    cache.of_field("d")  # full of fresh answers: starts over
    cache.of_field("a")
    assert [field for field, _ in queries.asked] == ["a", "b", "c", "d", "a"]
