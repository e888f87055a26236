"""The last-value store (storage.last_values): newest wins whoever writes, and the API reads it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api import latest
from api.latest import LatestReadings
from registry.store import Registry
from storage.influx import InfluxDB
from storage.last_values import (
    LastValues,
    LastValuesError,
    Newest,
    default_url,
    keep_newest,
)
from storage.queries import LatestValue

INFLUX = InfluxDB("http://127.0.0.1:9", "x")  # never asked where the store answers


@pytest.fixture
def url(tmp_path: Path) -> str:
    return default_url(f"sqlite:///{tmp_path / 'registry.sqlite3'}")


def test_the_store_sits_beside_a_sqlite_registry_or_in_another_database() -> None:
    assert default_url("sqlite:////srv/tani/registry.sqlite3") == (
        "sqlite:////srv/tani/last_values.sqlite3"
    )
    assert default_url("sqlite:///.tani/registry.sqlite3") == "sqlite:///.tani/last_values.sqlite3"
    assert default_url("sqlite:///registry.sqlite3") == "sqlite:///last_values.sqlite3"
    pg = "postgresql+psycopg://tani:rahasia@db.desa/tani"
    assert default_url(pg) == pg


def test_a_field_reads_its_own_newest_values_sorted_with_units(url: str) -> None:
    store = LastValues(url)
    try:
        store.record(
            {
                ("sawah", "soil-1", "soil_temperature"): (2_000, 27.5, "good"),
                ("sawah", "soil-1", "soil_moisture"): (2_000, 31.0, "suspect"),
                ("ladang", "soil-9", "soil_moisture"): (3_000, 12.0, "good"),
            }
        )
        assert store.of_field("sawah") == [
            LatestValue("soil_moisture", "soil-1", 31.0, "%", 2_000, "suspect"),
            LatestValue("soil_temperature", "soil-1", 27.5, "degC", 2_000, "good"),
        ]
        assert store.of_field("kebun") == []
    finally:
        store.close()


_readings = st.lists(
    st.tuples(
        st.sampled_from(["sawah", "ladang"]),
        st.sampled_from(["soil-1", "soil-2"]),
        st.sampled_from(["soil_moisture", "rain"]),
        st.integers(0, 50),  # time: ties too
        st.floats(0, 100),
        st.booleans(),  # which of two writers (two ingest workers) records it
    ),
    max_size=40,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(_readings, st.integers(1, 5))
def test_two_writers_in_any_order_leave_the_newest_of_each_series(
    tmp_path: Path, readings: list, chunk: int
) -> None:
    url = f"sqlite:///{tmp_path / f'lv-{abs(hash(str(readings)))}.sqlite3'}"
    first, second = LastValues(url), LastValues(url)
    try:
        # Each writer records its share in batches, the batches interleaved: like two workers.
        pending: dict[bool, list[dict]] = {True: [], False: []}
        for field_id, device_id, quantity, time_ms, value, which in readings:
            batch: dict = {}
            keep_newest(batch, (field_id, device_id, quantity), time_ms, value, "good")
            pending[which].append(batch)
        for start in range(0, len(readings), chunk):
            for which, store in ((True, first), (False, second)):
                for batch in pending[which][start : start + chunk]:
                    store.record(batch)
        newest_time: dict[tuple[str, str, str], int] = {}
        values: dict[tuple[str, str, str], set[float]] = {}
        for field_id, device_id, quantity, time_ms, value, _ in readings:
            key = (field_id, device_id, quantity)
            if time_ms > newest_time.get(key, -1):
                newest_time[key], values[key] = time_ms, set()
            if time_ms == newest_time[key]:
                values[key].add(value)
        held = {
            (f, v.device_id, v.quantity): v for f in ("sawah", "ladang") for v in second.of_field(f)
        }
        assert set(held) == set(newest_time)
        for key, value in held.items():
            # Equal times: either reading is the newest; an older one never is.
            assert value.time_ms == newest_time[key]
            assert value.value in values[key]
    finally:
        first.close()
        second.close()


def test_writers_in_threads_never_move_a_value_back(url: str) -> None:
    store = LastValues(url)
    try:

        def write(times: range) -> None:
            for t in times:
                batch: dict[tuple[str, str, str], Newest] = {}
                keep_newest(batch, ("sawah", "soil-1", "soil_moisture"), t, float(t), "good")
                store.record(batch)

        threads = [
            threading.Thread(target=write, args=(range(start, 400, 4),)) for start in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert store.of_field("sawah")[0].time_ms == 399
    finally:
        store.close()


def test_workers_starting_together_on_a_new_store_all_open_it(tmp_path: Path) -> None:
    # Two ingest workers started at once both found no table and both created it: one died
    # with "table last_value already exists".
    failures: list[LastValuesError] = []
    for attempt in range(10):
        url = f"sqlite:///{tmp_path / f'last_values_{attempt}.sqlite3'}"
        start = threading.Barrier(6)

        def open_store(url: str = url, start: threading.Barrier = start) -> None:
            start.wait()
            try:
                LastValues(url).close()
            except LastValuesError as exc:
                failures.append(exc)

        threads = [threading.Thread(target=open_store) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    opened = Registry(f"sqlite:///{tmp_path / 'registry.sqlite3'}")
    yield opened
    opened.close()


class _Influx:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, _influx: InfluxDB, field_id: str, devices: object = ()) -> list:
        self.asked.append(field_id)
        return [LatestValue("soil_moisture", "soil-2", 9.0, "%", 1, "good")]


def test_the_api_answers_from_the_store_and_asks_influxdb_only_for_what_it_lacks(
    url: str, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    influx = _Influx()
    monkeypatch.setattr(latest, "latest_for_field", influx)
    store = LastValues(url)
    now = [0.0]
    readings = LatestReadings(INFLUX, registry, 10, lambda: now[0], store=store)
    try:
        store.record({("sawah", "soil-1", "soil_moisture"): (1_000, 30.0, "good")})
        assert readings.of_field("sawah", ["soil-1"])[0].value == 30.0
        assert influx.asked == []
        # A newer reading shows within the store's cache time, not the 10 s of InfluxDB's.
        store.record({("sawah", "soil-1", "soil_moisture"): (2_000, 31.0, "good")})
        now[0] += latest.STORE_CACHE_S
        assert readings.of_field("sawah", ["soil-1"])[0].value == 31.0
        # A placed device the store has never seen: InfluxDB's look-back has it.
        assert readings.of_field("sawah", ["soil-1", "soil-2"])[0].device_id == "soil-2"
        assert influx.asked == ["sawah"]
    finally:
        store.close()


def test_an_unreadable_store_falls_back_to_influxdb(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    influx = _Influx()
    monkeypatch.setattr(latest, "latest_for_field", influx)

    class Broken:
        def of_field(self, field_id: str) -> list[LatestValue]:
            raise LastValuesError("last-value store unreadable: disk I/O error")

    readings = LatestReadings(INFLUX, registry, 10, store=Broken())  # type: ignore[arg-type]
    assert readings.of_field("sawah")[0].value == 9.0
    assert influx.asked == ["sawah"]
