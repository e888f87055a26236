"""``tani bench ingest``: ingest throughput against InfluxDB's own ceiling, and its latency.

Everything runs on this machine: Mosquitto and influxd from ``tani stack`` in a temporary
directory, ingest as separate processes (``tani ingest --config``: their CPU is their own, and
two workers can use two cores), and simulated gateways publishing format-2 binary batches at
QoS 1, each as its own MQTT user. Every run writes to a database of its own:

- raw ceiling: the same readings as the same line protocol (``reading_line``, registry tags),
  POSTed straight to ``/write`` in 5,000-line batches by 1 and by 4 writers; the best counts;
- pipeline: a burst through Mosquitto and ingest, counted as stored (``count(value)``),
  checked against what was published (zero loss), and its ratio to the raw ceiling;
- latency: a steady stream (default 2,000 readings/s), each message's publish time stamped;
  every message has a time slot of its own, and a small ``GROUP BY time()`` query every 25 ms
  over the messages not yet seen tells when each became queryable; p50 and p99;
- pipeline and latency again with two ingest workers on one shared subscription.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paho.mqtt.client import MQTTMessageInfo

from ingest.config import BatchSettings, MqttSettings
from registry.store import DevicePlacement
from storage.influx import InfluxDB
from storage.schema import reading_line
from tani.bench.ingest_load import (
    BenchError,
    Counter,
    IngestSetup,
    IngestWorker,
    Layout,
    Publishers,
    Watcher,
    bench_registry,
    ingest_workers,
    raw_write,
    settle,
    wait_until,
)
from tani.bench.wire import process_cpu_s
from tani.stack import Stack, StackConfig, free_ports
from tani.stack.config import find_binary
from tani.stack.mosquitto import MAX_INFLIGHT_MESSAGES, MAX_QUEUED_MESSAGES
from telemetry.batch import MAX_ROWS
from telemetry.codec import encode_batch

RAW_BATCH_LINES = 5000
RAW_WRITERS = (1, 4)
VISIBILITY_POLL_S = 0.025
# No growth in the stored count for this long means what is missing will not come.
STALL_S = 20.0


@dataclass(frozen=True)
class _Burst:
    """The burst: payloads (slot 0 warms up), and the same readings as line protocol."""

    layout: Layout
    warmup: list[tuple[str, bytes]]
    measured: list[tuple[str, bytes]]
    raw_bodies: list[bytes]
    raw_readings: int


@dataclass(frozen=True)
class _Bench:
    stack: Stack
    setup: IngestSetup
    publishers: Publishers
    gateways: tuple[str, ...]
    influxd_pid: int
    mosquitto_pid: int


def _burst(
    gateways: tuple[str, ...],
    readings: int,
    per_message: int,
    placements: dict[tuple[str, str], DevicePlacement],
) -> _Burst:
    layout = Layout.starting(gateways, per_message, days_ago=30)
    rounds = -(-readings // (per_message * len(gateways)))
    slots: list[list[tuple[str, bytes]]] = []
    lines: list[str] = []
    bodies: list[bytes] = []
    total = 0
    for slot in range(rounds + 1):
        messages = []
        for gateway_id in gateways:
            batch = layout.readings(gateway_id, slot, slot * per_message + 1)
            messages.append((gateway_id, encode_batch(gateway_id, batch)))
            lines += [reading_line(r, placements.get((gateway_id, r.device_id))) for r in batch]
            total += len(batch)
            if len(lines) >= RAW_BATCH_LINES:
                bodies.append("\n".join(lines[:RAW_BATCH_LINES]).encode())
                del lines[:RAW_BATCH_LINES]
        slots.append(messages)
    if lines:
        bodies.append("\n".join(lines).encode())
    return _Burst(layout, slots[0], [m for s in slots[1:] for m in s], bodies, total)


def _raw_ceiling(bench: _Bench, burst: _Burst) -> dict[str, Any]:
    result: dict[str, Any] = {"readings": burst.raw_readings, "batch_lines": RAW_BATCH_LINES}
    for writers in RAW_WRITERS:
        database = f"bench_raw_{writers}w"
        settle(bench.influxd_pid)
        counter = Counter(bench.stack.influx_url, database)
        try:
            counter.create()
            seconds = raw_write(bench.stack.influx_url, database, burst.raw_bodies, writers)
            stored = counter.count(burst.layout.base_ms)
        finally:
            counter.close()
        result[f"writers_{writers}"] = {
            "database": database,
            "seconds": round(seconds, 3),
            "readings_per_s": round(burst.raw_readings / seconds),
            "stored": stored,
        }
    result["readings_per_s"] = max(result[f"writers_{n}"]["readings_per_s"] for n in RAW_WRITERS)
    return result


def _drain(
    counter: Counter, burst: _Burst, expected: int, workers: list[IngestWorker]
) -> tuple[int, float]:
    """Wait until InfluxDB holds ``expected`` readings or stops growing; (stored, when).

    While the burst drains only the last slot is counted (cheap); it fills last with one
    worker, so the full count (which scans every point) runs once or twice at the end.
    """
    layout = burst.layout
    last_slot = len(burst.measured) // len(layout.gateways)
    last_slot_expected = len(layout.gateways) * layout.per_message
    stored, grew_at = -1, time.monotonic()
    next_full = grew_at + 2.0
    tail_done = False
    while True:
        for worker in workers:
            worker.check_alive()
        now = time.monotonic()
        if not tail_done:
            tail_done = counter.count(layout.slot_ms(last_slot)) >= last_slot_expected
        if tail_done or now >= next_full:
            total = counter.count(layout.base_ms)
            now = time.monotonic()
            if total >= expected:
                return total, now
            if total > stored:
                stored, grew_at = total, now
            elif now - grew_at > STALL_S:
                return stored, grew_at
            next_full = now + 2.0
        time.sleep(0.1)


def _cpu(bench: _Bench, workers: list[IngestWorker]) -> dict[str, float]:
    return {
        "ingest": sum(process_cpu_s(w.process.pid) for w in workers),
        "influxd": process_cpu_s(bench.influxd_pid),
        "mosquitto": process_cpu_s(bench.mosquitto_pid),
        "bench_publisher_and_poller": process_cpu_s(os.getpid()),
    }


def _throughput(bench: _Bench, burst: _Burst, workers: int) -> dict[str, Any]:
    database = f"bench_pipeline_{workers}w"
    layout = burst.layout
    settle(bench.influxd_pid)
    counter = Counter(bench.stack.influx_url, database)
    label = f"pipeline-{workers}w"
    try:
        with ingest_workers(bench.setup, database, workers, label) as running:
            bench.publishers.publish_all(burst.warmup)
            warm = len(burst.warmup) * layout.per_message
            counter.wait_for(layout.base_ms, warm, running)
            cpu_before = _cpu(bench, running)
            worker_cpu = [[process_cpu_s(w.process.pid) for w in running]]
            started = time.monotonic()
            bench.publishers.publish_all(burst.measured)
            published_at = time.monotonic()
            expected = warm + len(burst.measured) * layout.per_message
            stored, done_at = _drain(counter, burst, expected, running)
            cpu_after = _cpu(bench, running)
            worker_cpu.append([process_cpu_s(w.process.pid) for w in running])
    finally:
        counter.close()
    readings = len(burst.measured) * layout.per_message
    elapsed = done_at - started
    return {
        "database": database,
        "workers": workers,
        "readings": readings,
        "messages": len(burst.measured),
        "seconds": round(elapsed, 3),
        "readings_per_s": round(readings / elapsed),
        "publish_seconds": round(published_at - started, 3),
        "published_distinct": expected,
        "stored": stored,
        "lost": expected - stored,
        "cpu_cores_used": {
            name: round((cpu_after[name] - cpu_before[name]) / elapsed, 2) for name in cpu_after
        },
        # An even split shows the shared subscription shares (duplicates would double it).
        "ingest_cpu_s_per_worker": [
            round(after - before, 2) for before, after in zip(*worker_cpu, strict=True)
        ],
        "ingest_cpu_us_per_reading": round(
            (cpu_after["ingest"] - cpu_before["ingest"]) / readings * 1e6, 2
        ),
    }


def _percentile(ordered: list[float], fraction: float) -> float | None:
    if not ordered:
        return None
    if len(ordered) == 1:
        return round(ordered[0], 4)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return round(cuts[round(fraction * 100) - 1], 4)


def _latency(
    bench: _Bench, workers: int, rate: float, seconds: float, per_message: int
) -> dict[str, Any]:
    database = f"bench_latency_{workers}w"
    gateways = bench.gateways
    layout = Layout.starting(gateways, per_message, days_ago=60)

    def message(j: int) -> tuple[str, bytes]:
        gateway_id = gateways[j % len(gateways)]
        first_seq = j // len(gateways) * per_message + 1
        return gateway_id, encode_batch(gateway_id, layout.readings(gateway_id, j, first_seq))

    per_s = rate / per_message
    probes = [message(len(gateways) + k) for k in range(max(2, round(seconds * per_s)))]
    settle(bench.influxd_pid)
    counter = Counter(bench.stack.influx_url, database)
    watcher_counter = Counter(bench.stack.influx_url, database)
    try:
        with ingest_workers(bench.setup, database, workers, f"latency-{workers}w") as running:
            bench.publishers.publish_all([message(j) for j in range(len(gateways))])
            counter.wait_for(layout.base_ms, len(gateways) * per_message, running)
            watcher = Watcher(watcher_counter, layout, len(gateways), VISIBILITY_POLL_S)
            watcher.start()
            sent: list[float] = []
            infos: list[MQTTMessageInfo] = []
            started = time.monotonic()
            try:
                for k, (gateway_id, payload) in enumerate(probes):
                    time.sleep(max(0.0, started + k / per_s - time.monotonic()))
                    sent.append(time.monotonic())
                    infos.append(bench.publishers.publish(gateway_id, payload))
                    watcher.published = k + 1

                def all_seen() -> bool:
                    for worker in running:
                        worker.check_alive()
                    return len(watcher.seen) == len(probes) or watcher.error is not None

                wait_until(all_seen, 30)
            finally:
                watcher.stop()
            if watcher.error is not None:
                raise BenchError(f"latency watcher failed: {watcher.error}")
            for info in infos:
                info.wait_for_publish(30)
            stored = counter.count(layout.base_ms)
    finally:
        counter.close()
        watcher_counter.close()
    latencies = sorted(watcher.seen[k] - sent[k] for k in watcher.seen)
    expected = (len(gateways) + len(probes)) * per_message
    return {
        "database": database,
        "workers": workers,
        "readings_per_s": round(len(probes) * per_message / (sent[-1] - sent[0] + 1 / per_s)),
        "messages": len(probes),
        "readings_per_message": per_message,
        "p50_s": _percentile(latencies, 0.5),
        "p99_s": _percentile(latencies, 0.99),
        "max_s": round(latencies[-1], 4) if latencies else None,
        "mean_s": round(statistics.fmean(latencies), 4) if latencies else None,
        "not_visible_within_30_s": len(probes) - len(latencies),
        "visibility_queries": watcher.queries,
        "published_distinct": expected,
        "stored": stored,
        "lost": expected - stored,
    }


def _machine(stack: Stack) -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if "model name" in ln), "")
    influx = InfluxDB(stack.influx_url, "_internal")
    try:
        influx_version = influx.ping()
    finally:
        influx.close()
    mosquitto = subprocess.run(
        [find_binary(None, "mosquitto", "mosquitto"), "-h"], capture_output=True, text=True
    )
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "influxdb": influx_version,
        "mosquitto": (mosquitto.stdout or mosquitto.stderr).splitlines()[0],
    }


def run(
    readings: int = 1_000_000,
    rate: float = 2000.0,
    seconds: float = 30.0,
    batch: int = 500,
    latency_batch: int = 100,
    gateways: int = 8,
) -> dict[str, Any]:
    """Every ingest figure of issue 4 from one fresh stack; returns the JSON-ready result."""
    messages = -(-readings // (batch * gateways)) * gateways
    if max(batch, latency_batch) > MAX_ROWS:
        raise ValueError(f"a message may hold at most {MAX_ROWS} readings")
    if messages >= MAX_QUEUED_MESSAGES:
        # The whole burst waits in ingest's broker queue; past this Mosquitto drops messages.
        raise ValueError(f"{messages} messages exceed Mosquitto's queue of {MAX_QUEUED_MESSAGES}")
    gateway_ids = tuple(f"gw-bench-{n:02d}" for n in range(gateways))
    with tempfile.TemporaryDirectory(prefix="tani-bench-ingest-") as tmp:
        work = Path(tmp)
        mqtt_port, influx_port, rpc_port = free_ports(3)
        stack = Stack(StackConfig(work / "stack", "127.0.0.1", mqtt_port, influx_port, rpc_port))
        stack.up()
        try:
            with ExitStack() as cleanup:
                registry = bench_registry(work / "registry.sqlite3", gateway_ids)
                cleanup.callback(registry.close)
                burst = _burst(gateway_ids, readings, batch, registry.placements())
                publishers = Publishers(stack, gateway_ids)
                cleanup.callback(publishers.close)
                status = stack.status()
                bench = _Bench(
                    stack,
                    IngestSetup(
                        stack,
                        stack.add_mqtt_user("bench-ingest", "service"),
                        f"sqlite:///{work / 'registry.sqlite3'}",
                        work,
                    ),
                    publishers,
                    gateway_ids,
                    status.influxd.pid or 0,
                    status.mosquitto.pid or 0,
                )
                result: dict[str, Any] = {
                    "benchmark": "ingest",
                    "machine": _machine(stack),
                    "settings": _settings(readings, rate, seconds, batch, latency_batch, gateways),
                    "raw_ceiling": _raw_ceiling(bench, burst),
                }
                for workers in (1, 2):
                    suffix = "1_worker" if workers == 1 else f"{workers}_workers"
                    try:
                        pipeline = _throughput(bench, burst, workers)
                        pipeline["ratio_to_raw_ceiling"] = round(
                            pipeline["readings_per_s"] / result["raw_ceiling"]["readings_per_s"], 3
                        )
                        result[f"pipeline_{suffix}"] = pipeline
                        result[f"latency_{suffix}"] = _latency(
                            bench, workers, rate, seconds, latency_batch
                        )
                    except BenchError as exc:
                        result.setdefault(f"pipeline_{suffix}", {"error": str(exc)})
                        result[f"latency_{suffix}"] = {"error": str(exc)}
        finally:
            stack.down()
    result["targets"] = _targets(result)
    return result


def _settings(
    readings: int, rate: float, seconds: float, batch: int, latency_batch: int, gateways: int
) -> dict[str, Any]:
    ingest_batch = BatchSettings()
    return {
        "readings_requested": readings,
        "readings_per_message": batch,
        "gateways": gateways,
        "payload_format": "binary (format 2), QoS 1, one MQTT user per gateway",
        "latency_rate_readings_per_s": rate,
        "latency_seconds": seconds,
        "latency_readings_per_message": latency_batch,
        "latency_visibility_poll_s": VISIBILITY_POLL_S,
        "raw_batch_lines": RAW_BATCH_LINES,
        "raw_writers": list(RAW_WRITERS),
        "ingest": "one process per worker: python -c 'from tani.cli import app; app()' ingest",
        "ingest_batch_max_readings": ingest_batch.max_readings,
        "ingest_batch_max_delay_s": ingest_batch.max_delay_s,
        "ingest_receive_maximum": MqttSettings.model_fields["receive_maximum"].default,
        "ingest_shared_group_with_2_workers": "tani-ingest",
        "mosquitto_max_queued_messages": MAX_QUEUED_MESSAGES,
        "mosquitto_max_inflight_messages": MAX_INFLIGHT_MESSAGES,
    }


# Issue 14's targets (2,000 readings/s is the latency runs' default rate).
RATIO_TARGET = 0.8
CPU_US_TARGET = 2.5
P99_TARGET_S = 0.1


def _targets(result: dict[str, Any]) -> dict[str, bool | None]:
    """The issue's targets, None where a run failed."""
    targets: dict[str, bool | None] = {}
    runs = [k for k in result if k.startswith(("pipeline_", "latency_"))]
    for key in runs:
        if key.startswith("pipeline_"):
            ratio = result[key].get("ratio_to_raw_ceiling")
            cpu = result[key].get("ingest_cpu_us_per_reading")
            targets[f"{key} ratio >= {RATIO_TARGET}"] = (
                None if ratio is None else ratio >= RATIO_TARGET
            )
            targets[f"{key} <= {CPU_US_TARGET} us of ingest CPU per reading"] = (
                None if cpu is None else cpu <= CPU_US_TARGET
            )
        else:
            p99 = result[key].get("p99_s")
            rate = result["settings"]["latency_rate_readings_per_s"]
            targets[f"{key} p99 <= 100 ms at {rate:g} readings/s"] = (
                None if p99 is None else p99 <= P99_TARGET_S
            )
    lost = [result[k].get("lost") for k in runs]
    targets["zero loss in every run"] = None if None in lost else not any(lost)
    return targets


def main_json(**kwargs: Any) -> str:
    """The benchmark's one JSON line."""
    return json.dumps(run(**kwargs))
