"""``tani chaos --short``: real faults against real processes, counted by sequence number.

One short run of four scenarios, as CI runs it: gateways killed with ``kill -9`` and restarted,
one of two ingest workers of a shared subscription killed and restarted, one of them killed and
never restarted, and poison payloads published with a gateway's own login. The run is the real
command in its own process, with its own stacks on free ports; its temporary directory is this
test's, so the test can check that nothing of it is left behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_stack_binaries

pytestmark = pytest.mark.integration

SCENARIOS = ("gateway_kill", "ingest_kill_shared", "ingest_worker_dies", "poison")
PER_GATEWAY_KEYS = {
    "committed",
    "stored",
    "lost",
    "duplicated",
    "duplicated_seqs",
    "thinned",
    "dropped_before_commit",
    "still_in_outbox",
    "stored_untrusted_time",
    "stored_trusted_time_outside_run",
    "stored_unknown_seq",
    "missing_seqs_sample",
}


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{entry.name}: {cmdline}")
    return found


@pytest.fixture(scope="module")
def chaos_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The JSON of one ``tani chaos --short`` run, and where it kept its temporary files."""
    require_stack_binaries()
    tmp = tmp_path_factory.mktemp("chaos")
    args = [arg for name in SCENARIOS for arg in ("--scenario", name)]
    done = subprocess.run(
        [sys.executable, "-c", "from tani.cli import app; app()", "chaos", "--short", *args],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "TMPDIR": str(tmp)},
    )
    print(done.stderr[-20_000:])  # shown when a test fails
    assert done.returncode == 0, done.stderr[-3000:]
    return {"result": json.loads(done.stdout), "tmp": tmp}


def test_the_run_prints_one_json_object_with_every_scenario(chaos_run: dict[str, Any]) -> None:
    result = chaos_run["result"]
    assert result["mode"] == "short"
    assert result["interrupted"] is False
    assert set(result["scenarios"]) == set(SCENARIOS)
    assert result["parameters"]["gateway_kills"] >= 3
    assert result["parameters"]["ingest_kills"] >= 2
    for name, scenario in result["scenarios"].items():
        assert scenario["error"] is None, f"{name}: {scenario['error']}"
        for key in ("committed", "stored", "lost", "duplicated", "thinned"):
            assert isinstance(scenario[key], int), (name, key)
        assert isinstance(scenario["recovered_by_itself"], bool)
        assert scenario["committed"] > 0, f"{name}: no reading was ever committed"
        assert scenario["fault"]["how"]
        for gateway in scenario["gateways"].values():
            assert set(gateway) == PER_GATEWAY_KEYS
        # The totals are the per-gateway figures added up.
        for key in ("committed", "stored", "lost", "duplicated"):
            assert scenario[key] == sum(g[key] for g in scenario["gateways"].values())
        # lost = committed - stored - thinned, by definition.
        assert scenario["lost"] == max(
            scenario["committed"] - scenario["stored"] - scenario["thinned"], 0
        )


def test_nothing_of_the_run_is_left_behind(chaos_run: dict[str, Any]) -> None:
    tmp: Path = chaos_run["tmp"]
    assert not list(tmp.iterdir()), "the run's temporary directory was not removed"
    assert not _processes_mentioning(str(tmp)), "processes of the run are still running"


@pytest.mark.parametrize("name", SCENARIOS)
def test_no_committed_reading_is_lost_or_stored_twice(chaos_run: dict[str, Any], name: str) -> None:
    scenario = chaos_run["result"]["scenarios"][name]
    assert scenario["lost"] == 0, scenario["gateways"]
    assert scenario["duplicated"] == 0, scenario["gateways"]
    assert scenario["recovered_by_itself"] is True, scenario.get("gave_up")
    assert scenario["time_to_recover_s"] is not None


def test_kills_happened_as_asked(chaos_run: dict[str, Any]) -> None:
    scenarios = chaos_run["result"]["scenarios"]
    params = chaos_run["result"]["parameters"]
    assert sum(scenarios["gateway_kill"]["fault"]["kills"].values()) == params["gateway_kills"]
    shared = scenarios["ingest_kill_shared"]
    assert shared["fault"]["shared_subscription"] is True
    assert sum(shared["fault"]["kills"].values()) == params["ingest_kills"]
    assert sum(shared["restarts"][w] for w in ("ingest-0", "ingest-1")) == params["ingest_kills"]
    dead = scenarios["ingest_worker_dies"]
    assert dead["fault"]["workers_left"] == 1
    assert dead["restarts"][dead["fault"]["killed"]] == 0


def test_every_poison_is_a_dead_letter_and_good_readings_keep_coming(
    chaos_run: dict[str, Any],
) -> None:
    fault = chaos_run["result"]["scenarios"]["poison"]["fault"]
    kinds = {p["kind"] for p in fault["poisons"]}
    assert {"json_value_1e309", "random_bytes", "huge_blob_8mib", "forged_gateway"} <= kinds
    for poison in fault["poisons"]:
        assert poison["dead_letters"] == [poison["expected"]], poison
        assert poison["next_good_stored_s"] <= 5.0, poison
    assert fault["every_poison_dead_lettered"] is True
    assert fault["next_good_within_target"] is True
