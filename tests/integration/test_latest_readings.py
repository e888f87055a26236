"""Latest readings of a field on the real influxd: the day's look-back, the long one for a
placed device that fell silent, and a new last-value store filled from them."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry.store import DevicePlacement
from storage.last_values import LastValues, seed_from_influx
from storage.queries import LatestValue, latest_for_field
from storage.rollups import StorageLayout
from storage.schema import reading_line
from storage.writers import InfluxWriter
from tani.stack import Stack
from telemetry.reading import Quality, Reading

pytestmark = pytest.mark.integration

MINUTE_MS = 60_000
DAY_MS = 24 * 60 * MINUTE_MS
_run = itertools.count()


@pytest.fixture
def influx(stack: Stack) -> Iterator[InfluxWriter]:
    writer = InfluxWriter(
        stack.influx_url, f"tani_latest_{next(_run)}", layout=StorageLayout(utc_offset_h=7)
    )
    writer.ensure_database()
    now = int(time.time() * 1000)
    # (device, quantity, age, value): soil-1 reports now, soil-2 fell silent three days ago,
    # soil-3 forty days ago (beyond the long look-back); soil-1 also has an older reading.
    readings = [
        ("soil-1", "soil_moisture", 20 * MINUTE_MS, 30.0),
        ("soil-1", "soil_moisture", 5 * MINUTE_MS, 31.5),
        ("soil-2", "soil_moisture", 3 * DAY_MS, 18.0),
        ("soil-2", "soil_temperature", 3 * DAY_MS, 26.0),
        ("soil-3", "soil_moisture", 40 * DAY_MS, 40.0),
        ("soil-9", "soil_moisture", 2 * DAY_MS, 22.0),  # another field
    ]
    writer.write_lines(
        [
            reading_line(
                Reading("g1", device, quantity, value, "%", now - age, Quality.GOOD, seq),
                DevicePlacement("ladang-lama" if device == "soil-9" else "sawah", "v1", "padi"),
            )
            for seq, (device, quantity, age, value) in enumerate(readings)
        ]
    )
    try:
        yield writer
    finally:
        writer.execute(f'DROP DATABASE "{writer.database}"')
        writer.close()


def _shown(values: list[LatestValue]) -> list[tuple[str, str, float]]:
    return [(v.device_id, v.quantity, v.value) for v in values]


def test_devices_that_reported_today_need_only_the_days_look_back(influx: InfluxWriter) -> None:
    assert _shown(latest_for_field(influx, "sawah", ["soil-1"])) == [
        ("soil-1", "soil_moisture", 31.5)
    ]


def test_a_placed_device_silent_for_days_still_shows_its_last_values(
    influx: InfluxWriter,
) -> None:
    assert _shown(latest_for_field(influx, "sawah", ["soil-1", "soil-2", "soil-3"])) == [
        ("soil-1", "soil_moisture", 31.5),
        ("soil-2", "soil_moisture", 18.0),
        ("soil-2", "soil_temperature", 26.0),
    ]


def test_a_field_silent_all_day_is_looked_for_further_back(influx: InfluxWriter) -> None:
    (value,) = latest_for_field(influx, "ladang-lama")
    assert (value.device_id, value.value) == ("soil-9", 22.0)
    assert value.time_ms < time.time() * 1000 - 2 * DAY_MS + MINUTE_MS
    assert latest_for_field(influx, "no-such-field") == []


def test_a_new_last_value_store_is_filled_with_what_the_look_back_shows(
    influx: InfluxWriter, tmp_path: Path
) -> None:
    store = LastValues(f"sqlite:///{tmp_path / 'last_values.sqlite3'}")
    try:
        # soil-1's newest moisture is already there from ingest: the seed never moves it back.
        store.record(
            {("sawah", "soil-1", "soil_moisture"): (int(time.time() * 1000), 33.0, "good")}
        )
        seed_from_influx(store, influx)
        assert _shown(store.of_field("sawah")) == [
            ("soil-1", "soil_moisture", 33.0),
            ("soil-2", "soil_moisture", 18.0),
            ("soil-2", "soil_temperature", 26.0),
        ]
        assert store.of_field("ladang-lama") == latest_for_field(influx, "ladang-lama")
    finally:
        store.close()
