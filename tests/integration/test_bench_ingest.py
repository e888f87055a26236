"""``tani bench ingest`` runs end to end at tiny sizes: every figure is there and nothing is lost.

A smoke test of the benchmark's machinery (real Mosquitto, influxd and ingest processes), not a
measurement: the figures themselves are never asserted.
"""

from __future__ import annotations

import json

import pytest

from tani.bench.ingest import main_json
from tests.conftest import require_stack_binaries

pytestmark = pytest.mark.integration

RUNS = ("pipeline_1_worker", "latency_1_worker", "pipeline_2_workers", "latency_2_workers")


def test_bench_ingest_prints_every_figure_and_loses_nothing() -> None:
    require_stack_binaries()
    result = json.loads(main_json(readings=20_000, seconds=3.0, gateways=4))

    assert result["machine"]["cpu_count"] >= 1
    assert result["settings"]["readings_requested"] == 20_000
    raw = result["raw_ceiling"]
    assert raw["readings_per_s"] > 0
    for writers in (1, 4):
        assert raw[f"writers_{writers}"]["stored"] == raw["readings"]
    for run in RUNS:
        assert "error" not in result[run], result[run]["error"]
        assert result[run]["lost"] == 0, result[run]
        assert result[run]["stored"] == result[run]["published_distinct"]
    for run in ("pipeline_1_worker", "pipeline_2_workers"):
        assert result[run]["readings"] >= 20_000
        assert result[run]["readings_per_s"] > 0
        assert result[run]["ratio_to_raw_ceiling"] > 0
    for run in ("latency_1_worker", "latency_2_workers"):
        assert result[run]["not_visible_within_30_s"] == 0
        assert 0 < result[run]["p50_s"] <= result[run]["p99_s"]
    assert result["targets"]["zero loss in every run"] is True
    # The targets, not looser ones (whether this short run meets them is not asserted).
    assert "pipeline_1_worker ratio >= 0.8" in result["targets"]
    assert "pipeline_1_worker <= 2.5 us of ingest CPU per reading" in result["targets"]
    assert any(key.startswith("latency_1_worker p99 <= 100 ms") for key in result["targets"])
