"""The quarantine of readings from unregistered devices: held, listed, bounded, replayed."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.quarantine import HeldDevice, Quarantine, replay_registered
from telemetry.reading import Quality, Reading

T0 = 1_790_000_000_000


def _readings(device: str, seqs: range) -> list[Reading]:
    return [
        Reading("gw-1", device, "soil_moisture", 30.0, "%", T0 + s, Quality.GOOD, s) for s in seqs
    ]


def test_held_readings_are_listed_per_device_and_a_resent_one_counts_once(tmp_path: Path) -> None:
    store = Quarantine(tmp_path / "q.sqlite3")
    try:
        store.hold(_readings("soil-9", range(1, 4)))
        store.hold(_readings("soil-9", range(3, 5)))  # 3 re-sent
        store.hold(_readings("soil-8", range(10, 11)))
        assert store.devices() == [
            HeldDevice("gw-1", "soil-9", 4, T0 + 1, T0 + 4),
            HeldDevice("gw-1", "soil-8", 1, T0 + 10, T0 + 10),
        ]
    finally:
        store.close()


def test_past_the_bound_the_oldest_go_counted(tmp_path: Path) -> None:
    store = Quarantine(tmp_path / "q.sqlite3", max_rows=1000)
    try:
        store.hold(_readings("soil-9", range(0, 1500)))
        assert store.dropped == 500
        assert store.devices()[0].readings == 1000
    finally:
        store.close()


def test_replay_writes_registered_devices_only_and_keeps_what_failed(tmp_path: Path) -> None:
    store = Quarantine(tmp_path / "q.sqlite3")
    written: list[Reading] = []
    try:
        store.hold(_readings("soil-9", range(1, 8)))
        store.hold(_readings("soil-8", range(20, 22)))
        replayed = replay_registered(store, {("gw-1", "soil-9")}, written.extend, batch=3)
        assert replayed == {"gw-1/soil-9": 7}
        assert [r.seq for r in written] == list(range(1, 8))
        assert [d.device_id for d in store.devices()] == ["soil-8"]

        def influx_down(readings: list[Reading]) -> None:
            raise ConnectionError("InfluxDB unreachable")

        with pytest.raises(ConnectionError):
            replay_registered(store, {("gw-1", "soil-8")}, influx_down)
        assert store.devices()[0].readings == 2  # nothing lost
    finally:
        store.close()
