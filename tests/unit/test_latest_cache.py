"""The API's per-field cache of latest readings (api/latest.py)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from api import latest, ttl_cache
from api.latest import LatestReadings
from registry.models import Field
from registry.store import Registry
from storage.influx import InfluxDB, InfluxUnavailable
from storage.queries import LatestValue

INFLUX = InfluxDB("http://127.0.0.1:9", "x")  # never asked: the queries are stood in for
SITE = """
[[villages]]
id = "v1"
name = "Desa Satu"

[[fields]]
id = "sawah"
name = "Sawah"
village = "v1"
crop = "padi"

[[gateways]]
id = "g1"
name = "G1"
devices = [{ id = "soil-1", kind = "modbus_soil", field = "sawah" }]
"""


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


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    site = tmp_path / "site.toml"
    site.write_text(SITE)
    opened = Registry(f"sqlite:///{tmp_path / 'registry.sqlite3'}")
    opened.load_site(site)
    yield opened
    opened.close()


def test_answers_are_reused_for_ttl_seconds_per_field(queries: Queries, registry: Registry) -> None:
    clock = Clock()
    cache = LatestReadings(INFLUX, registry, 10, clock)
    first = cache.of_field("sawah", ["soil-1"])
    queries.value = 31.0
    clock.now += 9.9
    assert cache.of_field("sawah", ["soil-1"]) == first
    assert cache.of_field("ladang")[0].value == 31.0  # another field is its own entry
    clock.now += 0.1
    assert cache.of_field("sawah", ["soil-1"])[0].value == 31.0
    assert queries.asked == [("sawah", ("soil-1",)), ("ladang", ()), ("sawah", ("soil-1",))]


def test_zero_ttl_asks_every_time_and_failures_are_not_kept(
    queries: Queries, registry: Registry
) -> None:
    clock = Clock()
    uncached = LatestReadings(INFLUX, registry, 0, clock)
    uncached.of_field("sawah")
    uncached.of_field("sawah")
    assert len(queries.asked) == 2

    cached = LatestReadings(INFLUX, registry, 10, clock)
    queries.down = True
    with pytest.raises(InfluxUnavailable):
        cached.of_field("sawah")
    queries.down = False
    assert cached.of_field("sawah")[0].value == 30.0
    assert len(queries.asked) == 4


def test_the_cache_stays_bounded(
    queries: Queries, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ttl_cache, "MAX_ENTRIES", 3)
    clock = Clock()
    cache = LatestReadings(INFLUX, registry, 10, clock)
    for name in ("a", "b", "c"):
        cache.of_field(name)
    clock.now += 5
    cache.of_field("d")  # full of fresh answers: starts over
    cache.of_field("a")
    assert [field for field, _ in queries.asked] == ["a", "b", "c", "d", "a"]


def test_field_entries_are_kept_until_they_expire_or_an_admin_changes_one(
    registry: Registry,
) -> None:
    clock = Clock()
    cache = LatestReadings(INFLUX, registry, 10, clock)
    info = cache.field("sawah")
    assert info is not None and (info.village_id, info.devices) == ("v1", ("soil-1",))
    assert cache.field("no-such-field") is None
    with Session(registry.engine) as session, session.begin():
        session.execute(update(Field).where(Field.id == "sawah").values(name="Sawah Baru"))
    assert cache.field("sawah") == info
    cache.forget_fields()
    assert cache.field("sawah").name == "Sawah Baru"  # type: ignore[union-attr]
