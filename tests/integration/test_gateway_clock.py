"""A gateway whose clock is wrong stores nothing as trusted at the wrong time.

The real pipeline (emulated devices, gateway, Mosquitto, ingest, influxd); the gateway's clock is
the real SystemClock given a wall clock two days behind and no NTP, as after a power cut on a Pi
whose fake-hwclock restored a stale time. Before: that clock was past the floor and believed, and
readings were stored 48 h in the past, indistinguishable from real data.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gateway.clock import BUILD_FLOOR_MS, SystemClock
from storage.influx import InfluxDB
from storage.schema import MEASUREMENT, UNTRUSTED_TIME_MEASUREMENT
from tani.stack import Stack
from tests.integration.pipeline import Place, running_pipeline
from tests.integration.support import wait_for

pytestmark = pytest.mark.integration

TWO_DAYS_NS = 2 * 86_400 * 10**9


def _times(influx: InfluxDB, measurement: str, gateway_id: str) -> list[int]:
    series = influx.query(
        f'SELECT "seq" FROM "{measurement}" WHERE "gateway_id" = $gw', {"gw": gateway_id}
    )
    return [row["time"] for s in series for row in s.rows()]


def test_a_clock_two_days_behind_stores_no_reading_at_the_wrong_time(
    stack: Stack, tmp_path: Path
) -> None:
    behind = SystemClock(
        BUILD_FLOOR_MS,
        wall_ns=lambda: time.time_ns() - TWO_DAYS_NS,
        ntp_synchronised=lambda: False,
    )
    place = Place("desa-jam", "sawah-jam", "gw-jam", "tani_clock")
    started_ms = time.time_ns() // 1_000_000
    with running_pipeline(stack, tmp_path, place, seed=5, clock=behind):
        influx = InfluxDB(stack.influx_url, place.database)
        try:
            wait_for(
                lambda: len(_times(influx, MEASUREMENT, place.gateway_id)) >= 30,
                what="readings stored",
            )
            # The server's time, from ingest's acks, is what the gateway goes by now.
            assert behind.state().source == "server"
            assert abs(behind.offset_ms() - TWO_DAYS_NS // 10**6) < 2000  # type: ignore[operator]
            ended_ms = time.time_ns() // 1_000_000
            stored = _times(influx, MEASUREMENT, place.gateway_id)
            untrusted = _times(influx, UNTRUSTED_TIME_MEASUREMENT, place.gateway_id)
        finally:
            influx.close()
    # Every reading at the time it was really taken (the emulators ran only since started_ms).
    assert all(started_ms - 2000 <= t <= ended_ms + 2000 for t in stored), (
        min(stored) - started_ms,
        max(stored) - ended_ms,
    )
    assert untrusted == []
