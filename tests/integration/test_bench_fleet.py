"""``tani bench fleet`` runs end to end with a tiny fleet: every figure is there, nothing is lost.

A smoke test of the benchmark's machinery (real Mosquitto, influxd and ingest processes, the
load generators as processes of their own, each gateway its own MQTT login), not a measurement:
latencies and cores are never asserted.
"""

from __future__ import annotations

import json
import multiprocessing
import tempfile
from pathlib import Path

import pytest

from tani.bench.fleet import main_json
from tests.conftest import require_stack_binaries, stack_processes

pytestmark = pytest.mark.integration


def test_bench_fleet_reports_gateways_per_core_and_loses_nothing() -> None:
    require_stack_binaries()
    result = json.loads(main_json(steps=(10, 20), interval_s=1.0, window_s=1.5))

    assert result["machine"]["cpu_count"] >= 1
    assert result["machine"]["limits"]["ephemeral_ports"] >= 20
    settings = result["settings"]
    assert settings["compression"] == 300
    assert settings["windows_per_step"] == 3
    steps = result["steps"]
    assert [s["connections"] for s in steps][:1] == [10]
    for step in steps:
        assert "error" not in step, step["error"]
        assert step["connected"] == step["connections"]
        assert step["field_gateways"] == step["connections"] * 300
        assert step["published_readings"] > 0
        assert step["stored_readings"] == step["published_readings"]
        assert step["lost"] == 0
        assert step["unacked_readings"] == 0
        assert step["disconnects"] == step["refused"] == step["publish_errors"] == 0
        assert len(step["windows"]) == 3
        for window in step["windows"]:
            assert window["batches"] > 0
            assert 0 < window["ack_p50_s"] <= window["ack_p99_s"]
            assert window["server_cores"] > 0
            assert window["cores"]["load_generators"] >= 0
    outcome = result["result"]
    if outcome["reported_step_connections"] is not None:
        assert outcome["field_gateways_per_server_core"] > 0
        assert outcome["lost"] == 0
    assert set(result["targets"]) >= {
        "p99 <= 1 s at the reported step",
        "0 lost at the reported step",
    }
    # Nothing left running: no broker or database of the run, no load generator.
    assert stack_processes(Path(tempfile.gettempdir()) / "tani-bench-fleet-") == []
    assert multiprocessing.active_children() == []
