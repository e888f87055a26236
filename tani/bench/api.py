"""``tani bench api``: API latency over a year of readings, against InfluxDB's own round trip.

Everything runs on this machine, in a state directory of its own (default ``.tani-bench``):
Mosquitto and influxd from ``tani stack`` on free ports, a registry (SQLite) and the data set
of :mod:`tani.bench.api_data`, which is generated and loaded once and reused by later runs
with the same parameters (``dataset.json`` records a complete load; ``--fresh`` starts over).
Then the real API (``tani api``, its own process) answers concurrent clients
(:mod:`tani.bench.api_load`):

- reference: the InfluxQL of "latest conditions" (``storage.queries``, the day's look-back
  the API sends when every device of a field reported that day) sent straight to influxd's
  ``/query`` by the same number of clients, for random fields;
- ``GET /api/v1/fields/{id}/latest``, random fields, each with its farmer's token: answered
  from the last-value store (``storage.last_values``), filled from the data set as ingest fills
  a new store;
- ``GET /api/v1/villages/{id}/summary?period=month`` of last month (a whole month of every
  field), random villages, with the village office's token.

The ratio api_p95 / influx_p95 says what the API adds to the database's own answer time.
"""

from __future__ import annotations

import json
import os
import platform
import random
import shutil
import subprocess
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

from api.config import ApiConfig
from registry.store import Registry
from storage.influx import InfluxDB
from storage.last_values import LastValues, default_url, seed_from_influx
from storage.queries import LATEST_RECENT_QUERY
from storage.schema import PRECISION
from tani.bench.api_data import (
    DATABASE,
    MARKER,
    WRITERS,
    Loaded,
    Params,
    People,
    catch_up,
    check_rollups,
    field_ids,
    load,
    people,
    village_id,
)
from tani.bench.api_load import Call, api_server, api_toml, measure
from tani.bench.api_values import BATCH_LINES
from tani.bench.ingest_load import settle
from tani.bench.wire import process_cpu_s, tree_cpu_s
from tani.stack import Stack, StackConfig, free_ports

LATEST_P95_TARGET_MS = 10.0
SUMMARY_P95_TARGET_MS = 50.0  # issue 14
SUMMARY_PATH = "/api/v1/villages/{village_id}/summary"
# What a state directory of this benchmark holds; --fresh removes exactly these.
_OWNED = ("stack", "registry.sqlite3", "registry.sqlite3-wal", "registry.sqlite3-shm", MARKER)


def _stop_leftover_stack(state_dir: Path) -> None:
    """Stop a stack an interrupted run left running in this state directory."""
    if (state_dir / "stack" / "stack.json").exists():
        Stack.from_state_dir(state_dir / "stack").down()


def _wipe(state_dir: Path) -> None:
    for name in _OWNED:
        path = state_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _machine(influx_url: str) -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if "model name" in ln), "")
    influx = InfluxDB(influx_url, DATABASE)
    try:
        version = influx.ping()
    finally:
        influx.close()
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "influxdb": version,
    }


def _dataset(loaded: Loaded, reused: bool) -> dict[str, Any]:
    p = loaded.params
    return {
        "reused": reused,
        "villages": p.villages,
        "fields": p.fields,
        "days": p.days,
        "interval_min": p.interval_min,
        "series": loaded.series,
        "series_per_field": "7 soil probe + 3 climate node; + 4 village weather station on "
        "each village's first field",
        "from": _iso(loaded.start_ms),
        "until": _iso(loaded.end_ms),
        "readings": loaded.readings,
        "stored": loaded.stored,
        "write_requests": loaded.requests,
        "write_retries": loaded.write_retries,
        "batch_lines": BATCH_LINES,
        "writers": WRITERS,
        "load_s": loaded.load_s,
        "readings_per_s": round(loaded.readings / loaded.load_s) if loaded.load_s else None,
        "rollup_s": loaded.rollup_s,
        "rollup_points": loaded.rollup_points,
        "rollup_how": "reading_1h, reading_1d and field_1d (with field_1d_progress) computed "
        "by the benchmark from the same generated values (a second pass; field rows by "
        "storage.field_rollups.field_days, as the rollup job), written to RP rollup in "
        "5,000-line batches by 2 writers; the CQs' own SELECT ... INTO over the past ran at "
        "~44,000 readings/s here",
    }


def _code_version() -> str:
    """The commit the API runs from, and whether api/ or storage/ had uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "api", "storage"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no git)"
    return f"{head} + uncommitted changes in api/ or storage/" if dirty else head


def _iso(time_ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time_ms / 1000))


def _cores(
    cpu: dict[str, Callable[[], float]], run: Callable[[], dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, float]]:
    """Run ``run()`` and how many cores each process used meanwhile (``cpu``: its CPU seconds
    so far, by name)."""
    before = {name: used() for name, used in cpu.items()}
    began = time.monotonic()
    result = run()
    elapsed = time.monotonic() - began
    return result, {name: round((used() - before[name]) / elapsed, 2) for name, used in cpu.items()}


def _measure_all(
    stack: Stack,
    api_url: str,
    api_pid: int,
    params: Params,
    who: People,
    clients: int,
    requests: int,
    api_only: bool = False,
) -> dict[str, Any]:
    """Latest conditions and the monthly summary, and (unless ``api_only``) the reference."""
    fields = [f for f, _ in field_ids(params)]
    villages = [village_id(v) for v in range(params.villages)]
    influxd = stack.status().influxd.pid or 0
    cpu = {
        "influxd": lambda: process_cpu_s(influxd),
        # With workers, the supervisor and its worker processes.
        "api": lambda: tree_cpu_s(api_pid),
        "bench_clients": lambda: process_cpu_s(os.getpid()),
    }

    def raw_latest(rng: random.Random) -> Call:
        query = {"field_id": rng.choice(fields)}
        return Call(
            "/query",
            {
                "db": DATABASE,
                "q": LATEST_RECENT_QUERY,
                "params": json.dumps(query),
                "epoch": PRECISION,
            },
        )

    def api_latest(rng: random.Random) -> Call:
        field = rng.choice(fields)
        return Call(f"/api/v1/fields/{field}/latest", token=who.farmers[field])

    # Last month, whole: what the office prints, 30 days of every field (this month may have
    # only begun).
    last_month = (date.today().replace(day=1) - timedelta(days=1)).isoformat()

    def summary(rng: random.Random) -> Call:
        village = rng.choice(villages)
        path = SUMMARY_PATH.format(village_id=village)
        return Call(path, {"period": "month", "start": last_month}, who.village_offices[village])

    def timed(
        what: str, url: str, calls: Callable[[random.Random], Call], n: int, seed: int
    ) -> dict[str, Any]:
        figures, cores = _cores(cpu, lambda: measure(url, calls, clients, n, seed))
        # CPU per request is what a busy shared machine changes least: latency under a closed
        # loop is about clients x CPU per request / cores available.
        per_request = {
            name: round(used * figures["seconds"] / n * 1000, 2) for name, used in cores.items()
        }
        return {"what": what, **figures, "cpu_cores_used": cores, "cpu_ms_per_request": per_request}

    result: dict[str, Any] = {}
    if not api_only:
        result["influx_latest_reference"] = timed(
            "GET influxd /query with the API's latest-conditions InfluxQL, random fields",
            stack.influx_url,
            raw_latest,
            requests,
            1,
        )
    result["api_latest"] = timed(
        "GET /api/v1/fields/{id}/latest, random fields, the owner's token",
        api_url,
        api_latest,
        requests,
        2,
    )
    result["api_summary_month"] = timed(
        "GET /api/v1/villages/{id}/summary?period=month&start=<a day of last month>, random "
        "villages, the village office's token",
        api_url,
        summary,
        _summary_requests(clients, requests),
        3,
    )
    return result


def _fill_last_values(influx_url: str, registry_url: str) -> dict[str, Any]:
    """The last-value store as ingest keeps it: the loader wrote InfluxDB directly, so the store
    is filled the way ingest fills a new one when it starts (``seed_from_influx``)."""
    began = time.monotonic()
    store = LastValues(default_url(registry_url))
    influx = InfluxDB(influx_url, DATABASE)
    try:
        rows = seed_from_influx(store, influx)
    finally:
        influx.close()
        store.close()
    return {
        "series": rows,
        "filled_in_s": round(time.monotonic() - began, 2),
        "how": "storage.last_values.seed_from_influx, as ingest does with an empty store; "
        "ingest keeps it current after every write",
    }


def _summary_requests(clients: int, requests: int) -> int:
    # Each latest run outlasts the caches' seconds (10 000 requests: 10-40 s), so expiries are
    # measured, not only a warm cache; 400 summaries keep the uncached summary run near 10 s.
    return max(clients, min(400, requests // 5))


def run(
    fields: int = 200,
    days: int = 365,
    interval_min: int = 15,
    clients: int = 20,
    requests: int = 10_000,
    state_dir: Path = Path(".tani-bench"),
    reuse: bool = True,
    api_workers: int = 2,
) -> dict[str, Any]:
    """Every figure of issue 6 item 7; returns the JSON-ready result."""
    if 1440 % interval_min:
        raise ValueError("--interval-min must divide a day (1440 minutes)")
    params = Params(fields, days, interval_min)
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    _stop_leftover_stack(state_dir)
    loaded = Loaded.read(state_dir, params) if reuse else None
    if loaded is None:
        _wipe(state_dir)
    mqtt_port, influx_port, rpc_port, api_port = free_ports(4)
    stack = Stack(StackConfig(state_dir / "stack", "127.0.0.1", mqtt_port, influx_port, rpc_port))
    stack.up(timeout=300)
    registry_url = f"sqlite:///{state_dir / 'registry.sqlite3'}"
    try:
        registry = Registry(registry_url)
        try:
            reused = loaded is not None
            caught_up_days = 0
            if loaded is None:
                loaded = load(stack.influx_url, registry, params, time.time_ns() // 1_000_000)
            else:
                loaded, caught_up_days = catch_up(
                    stack.influx_url, registry, loaded, time.time_ns() // 1_000_000
                )
            loaded.save(state_dir)
            rollup_check = check_rollups(stack.influx_url, loaded)
            last_values = _fill_last_values(stack.influx_url, registry_url)
            who = people(registry, params, time.time_ns() // 1_000_000)
        finally:
            registry.close()
        # Compactions after a load would otherwise be measured as API latency.
        began = time.monotonic()
        settle(stack.status().influxd.pid or 0, timeout_s=300)
        settled_s = time.monotonic() - began
        result: dict[str, Any] = {
            "benchmark": "api",
            "machine": _machine(stack.influx_url),
            "settings": {
                "clients": clients,
                "requests_per_run": requests,
                "summary_requests": _summary_requests(clients, requests),
                "client_model": "closed loop: each client sends its next request as soon as "
                "the previous answer arrived (asyncio, one keep-alive HTTP/1.1 connection each)",
                "api": f"tani api (uvicorn, workers = {api_workers})",
                "api_caches": {
                    "latest_cache_s": ApiConfig().latest_cache_s,
                    "auth_cache_s": ApiConfig().auth_cache_s,
                    "summary_cache_s": ApiConfig().summary_cache_s,
                    "off_in": "api_latest_without_caches, api_summary_month_without_caches",
                },
                "api_code": _code_version(),
                "waited_for_influxd_idle_s": round(settled_s, 1),
                "state_dir": str(state_dir),
            },
            "dataset": {
                **_dataset(loaded, reused),
                "caught_up_days": caught_up_days,
                "rollup_check": rollup_check,
                "last_values": last_values,
            },
        }
        config_path = state_dir / "api.toml"
        api_url = f"http://127.0.0.1:{api_port}"
        try:
            config_path.write_text(
                api_toml(api_port, stack.influx_url, DATABASE, mqtt_port, registry_url, api_workers)
            )
            with api_server(config_path, api_port, state_dir / "api.log") as server:
                result.update(
                    _measure_all(stack, api_url, server.pid, params, who, clients, requests)
                )
            # The same requests with the API's caches off: what each answer costs in full.
            config_path.write_text(
                api_toml(
                    api_port,
                    stack.influx_url,
                    DATABASE,
                    mqtt_port,
                    registry_url,
                    api_workers,
                    caches=False,
                )
            )
            with api_server(config_path, api_port, state_dir / "api.log") as server:
                uncached = _measure_all(
                    stack, api_url, server.pid, params, who, clients, requests, api_only=True
                )
            result["api_latest_without_caches"] = uncached["api_latest"]
            result["api_summary_month_without_caches"] = uncached["api_summary_month"]
        except (RuntimeError, httpx.HTTPError) as exc:
            # The data set stays (and is reused next time); say what failed instead of nothing.
            result["error"] = f"measuring the API failed: {exc}"
        result["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        stack.down()
    _ratios_and_targets(result)
    return result


def _ratios_and_targets(result: dict[str, Any]) -> None:
    reference = result.get("influx_latest_reference", {}).get("p95_ms")
    latest = result.get("api_latest", {}).get("p95_ms")
    summary = result.get("api_summary_month", {}).get("p95_ms")
    result["ratio_api_p95_to_influx_p95"] = (
        round(latest / reference, 2) if latest and reference else None
    )
    result["targets_met"] = {
        f"latest p95 <= {LATEST_P95_TARGET_MS:g} ms": None
        if latest is None
        else latest <= LATEST_P95_TARGET_MS,
        f"monthly summary p95 <= {SUMMARY_P95_TARGET_MS:g} ms": None
        if summary is None
        else summary <= SUMMARY_P95_TARGET_MS,
    }


def main_json(**kwargs: Any) -> str:
    """The benchmark's one JSON line."""
    return json.dumps(run(**kwargs))
