"""``tani bench api`` runs end to end at a tiny size, and a second run reuses the data set.

A smoke test of the benchmark's machinery (real influxd, the API as its own process), not a
measurement: the figures themselves are never asserted.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from registry.store import Registry
from storage.influx import InfluxDB
from tani.bench.api import main_json
from tani.bench.api_data import DATABASE, Params, catch_up, load
from tani.bench.api_values import DAY_MS
from tani.stack import Stack
from tests.conftest import require_stack_binaries, stack_processes

pytestmark = pytest.mark.integration

TINY = {"fields": 2, "days": 2, "interval_min": 60, "clients": 2, "requests": 20}
RUNS = (
    "influx_latest_reference",
    "api_latest",
    "api_summary_month",
    "api_latest_without_caches",
    "api_summary_month_without_caches",
)


def test_bench_api_prints_every_figure_and_reuses_its_data(tmp_path: Path) -> None:
    require_stack_binaries()
    state_dir = tmp_path / "bench"
    first = json.loads(main_json(**TINY, state_dir=state_dir))
    assert "error" not in first, first["error"]

    data = first["dataset"]
    assert data["reused"] is False
    # 2 fields x 10 series + the village weather station's 4, 24 readings a day each.
    assert data["series"] == 2 * 10 + 4
    assert data["readings"] == data["series"] * 24 * 2 == data["stored"]
    assert data["load_s"] > 0 and data["readings_per_s"] > 0
    assert data["rollup_s"] > 0
    assert data["rollup_check"]["ok"] is True, data["rollup_check"]
    # The last-value store the API answers from holds every series, as ingest would keep it.
    assert data["last_values"]["series"] == data["series"]
    # Hourly rollups of every series and hour, plus the (local) days they touch.
    assert data["rollup_points"] > data["series"] * 24 * 2
    for run in RUNS:
        figures = first[run]
        assert figures["ok"] == figures["requests"] > 0, figures
        assert figures["errors"] == {}
        assert figures["cpu_ms_per_request"]["bench_clients"] >= 0
        assert 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"] <= figures["max_ms"]
    # The latest conditions of a field: its 10 quantities (14 on a weather station's field).
    assert first["api_latest"]["mean_response_bytes"] > 500
    assert first["settings"]["api_caches"]["latest_cache_s"] > 0
    assert first["ratio_api_p95_to_influx_p95"] > 0
    assert set(first["targets_met"]) == {
        "latest p95 <= 10 ms",
        "monthly summary p95 <= 50 ms",
    }
    assert stack_processes(state_dir) == []

    second = json.loads(main_json(**TINY, state_dir=state_dir))
    assert second["dataset"]["reused"] is True
    assert second["dataset"]["caught_up_days"] == 0
    assert second["dataset"]["readings"] == data["readings"]
    assert second["api_latest"]["ok"] == 20
    assert stack_processes(state_dir) == []

    fresh = json.loads(main_json(**{**TINY, "days": 1}, state_dir=state_dir))
    assert fresh["dataset"]["reused"] is False
    assert fresh["dataset"]["stored"] == fresh["dataset"]["series"] * 24


def test_a_reused_data_set_is_caught_up_to_the_last_local_midnight(stack: Stack) -> None:
    params = Params(fields=1, days=2, interval_min=60)
    now_ms = int(time.time() * 1000)
    registry = Registry("sqlite://")
    try:
        old = load(stack.influx_url, registry, params, now_ms - 3 * DAY_MS)
        grown, days = catch_up(stack.influx_url, registry, old, now_ms)
        assert days == 3
        assert grown.end_ms == old.end_ms + 3 * DAY_MS > now_ms - DAY_MS
        per_day = old.series * 24
        assert grown.stored == grown.readings == old.readings + 3 * per_day
        assert grown.rollup_points > old.rollup_points
        assert catch_up(stack.influx_url, registry, grown, now_ms) == (grown, 0)
    finally:
        registry.close()
        influx = InfluxDB(stack.influx_url, DATABASE)
        influx.execute(f'DROP DATABASE "{DATABASE}"')
        influx.close()
