"""``tani bench ingest``: ingest throughput against InfluxDB's own ceiling, and its latency.

Everything runs on this machine: Mosquitto and influxd from ``tani stack`` in a temporary
directory, ingest as separate processes (``tani ingest --config``: their CPU is their own, and
two workers can use two cores), and simulated gateways publishing format-2 binary batches at
QoS 1, each as its own MQTT user. Every run writes to a database of its own.

The throughput figures come in rounds (3 by default), because InfluxDB's ceiling moves from run
to run on a shared machine (144k to 347k readings/s measured) and one ratio is noise. Each round
runs, each into fresh databases named after the round (``bench_r2_pipeline_1_worker``):

- raw ceiling: the burst's readings as the same line protocol (``reading_line``, registry
  tags), POSTed straight to ``/write`` in 5,000-line batches by 1 and by 4 writers; the better
  is the round's ceiling;
- pipeline, 1 worker and 2 workers (one shared subscription): the burst through Mosquitto and
  ingest, counted as stored (``count(value)``), checked against what was published (zero loss);
  its ratio is to the ceiling of its own round.

Odd rounds run ceiling, 1 worker, 2 workers; even rounds the reverse, so a drift within a round
(InfluxDB compacting earlier runs, other load on the machine) favours the ceiling in some rounds
and the pipeline in others instead of always the same side. The burst is encoded once and
published again in every round. ``median`` holds, per worker count, the median over the rounds
of the ratio, of ingest's CPU per reading and of readings/s, and the ceilings' median, min and
max; the throughput targets judge those medians, and only with 3 rounds or more.

Then latency: a steady stream at the low rate (default 2,000 readings/s) and at the high rate
(default 50,000/s), 30 s each, each with 1 and 2 workers, 100 readings a message (500
messages/s at the high rate: the bench process publishes them on time with about a fifth of a
core). The whole default run takes about 4 minutes on a 2-core machine. Each message's
publish time is stamped, every message has a time slot of its own, and a ``GROUP BY time()``
query every 25 ms over the messages not yet seen tells when each became queryable. It counts
only the series of each message's first and last reading (``tani.bench.ingest_watcher`` says
why); its query times are reported, since what the watcher adds is at most one poll plus one
query. Each run also reports ingest's own InfluxDB writes over the run (from each worker's
/metrics: count, readings a write, mean time, how many took over 0.1 and 0.25 s), which says
whether a slow tail is InfluxDB's or a queue's. A run whose publisher did not reach 90 % of the
asked rate is not judged against its target, and ``target_notes`` says why; it also says why
any other target is not met or not judged.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from ingest.config import BatchSettings, MqttSettings
from storage.influx import InfluxDB
from tani.bench.ingest_load import BenchError, IngestSetup, Publishers, bench_registry
from tani.bench.ingest_rounds import (
    MIN_ROUNDS,
    RATE_REACHED,
    RAW_CEILING,
    WORKER_COUNTS,
    add_ratios,
    medians,
    pipeline_name,
    round_order,
    targets,
    worker_suffix,
)
from tani.bench.ingest_runs import (
    RAW_BATCH_LINES,
    RAW_WRITERS,
    VISIBILITY_POLL_S,
    Bench,
    Burst,
    latency,
    latency_load,
    make_burst,
    raw_ceiling,
    throughput,
)
from tani.stack import Stack, StackConfig, free_ports
from tani.stack.config import find_binary
from tani.stack.mosquitto import MAX_INFLIGHT_MESSAGES, MAX_QUEUED_MESSAGES
from telemetry.batch import MAX_ROWS


def _round(bench: Bench, burst: Burst, number: int) -> dict[str, Any]:
    """One round: the ceiling and a pipeline run per worker count, in :func:`round_order`."""
    order = round_order(number)
    workers_of = {pipeline_name(w): w for w in WORKER_COUNTS}
    one: dict[str, Any] = {"round": number, "order": list(order)}
    for name in order:
        database = f"bench_r{number}_{name}"
        try:
            if name == RAW_CEILING:
                one[name] = raw_ceiling(bench, burst, database)
            else:
                one[name] = throughput(bench, burst, workers_of[name], database)
        except BenchError as exc:
            one[name] = {"error": str(exc)}
    add_ratios(one)
    return one


def _latency_runs(
    bench: Bench, streams: tuple[tuple[float, float, int], ...]
) -> list[tuple[str, int, bool, dict[str, Any]]]:
    """(name, workers, at the high rate, figures) of a latency run per stream and worker count.

    ``streams`` holds (rate, seconds, readings per message), the low rate first.
    """
    runs = []
    for index, (rate, seconds, per_message) in enumerate(streams):
        # Encoded once for both worker counts; each stream in a time range of its own.
        load = latency_load(bench.gateways, rate, seconds, per_message, days_ago=60 + 30 * index)
        for workers in WORKER_COUNTS:
            name = f"latency_{worker_suffix(workers)}_at_{rate:.0f}"
            try:
                figures = latency(bench, load, workers, f"bench_{name}")
            except BenchError as exc:
                figures = {"error": str(exc)}
            runs.append((name, workers, index > 0, figures))
    return runs


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
    rounds: int = 3,
    high_rate: float = 50_000.0,
    high_seconds: float = 30.0,
    high_latency_batch: int = 100,
) -> dict[str, Any]:
    """Every ingest figure of issue 14 from one fresh stack; returns the JSON-ready result."""
    messages = -(-readings // (batch * gateways)) * gateways
    if max(batch, latency_batch, high_latency_batch) > MAX_ROWS:
        raise ValueError(f"a message may hold at most {MAX_ROWS} readings")
    if rounds < 1:
        raise ValueError("at least one round")
    if messages >= MAX_QUEUED_MESSAGES:
        # The whole burst waits in ingest's broker queue; past this Mosquitto drops messages.
        raise ValueError(f"{messages} messages exceed Mosquitto's queue of {MAX_QUEUED_MESSAGES}")
    gateway_ids = tuple(f"gw-bench-{n:02d}" for n in range(gateways))
    streams = ((rate, seconds, latency_batch), (high_rate, high_seconds, high_latency_batch))
    with tempfile.TemporaryDirectory(prefix="tani-bench-ingest-") as tmp:
        work = Path(tmp)
        mqtt_port, influx_port, rpc_port = free_ports(3)
        stack = Stack(StackConfig(work / "stack", "127.0.0.1", mqtt_port, influx_port, rpc_port))
        stack.up()
        try:
            with ExitStack() as cleanup:
                registry = bench_registry(work / "registry.sqlite3", gateway_ids)
                cleanup.callback(registry.close)
                burst = make_burst(gateway_ids, readings, batch, registry.placements())
                publishers = Publishers(stack, gateway_ids)
                cleanup.callback(publishers.close)
                status = stack.status()
                bench = Bench(
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
                    "settings": _settings(readings, burst, batch, gateways, rounds, streams),
                    "rounds": [_round(bench, burst, n) for n in range(1, rounds + 1)],
                }
                latency_runs = _latency_runs(bench, streams)
        finally:
            stack.down()
    result["median"] = medians(result["rounds"])
    result["latency"] = {name: figures for name, _, _, figures in latency_runs}
    result["targets"], result["target_notes"] = targets(
        result["median"],
        result["rounds"],
        [(workers, high, figures) for _, workers, high, figures in latency_runs],
    )
    return result


def _settings(
    readings: int,
    burst: Burst,
    batch: int,
    gateways: int,
    rounds: int,
    streams: tuple[tuple[float, float, int], ...],
) -> dict[str, Any]:
    ingest_batch = BatchSettings()
    return {
        "readings_requested": readings,
        "burst_readings": burst.readings,
        "readings_per_message": batch,
        "gateways": gateways,
        "payload_format": "binary (format 2), QoS 1, one MQTT user per gateway",
        "rounds": rounds,
        "round_order": "odd rounds: raw ceiling, 1 worker, 2 workers; even rounds reversed",
        "ratio": "each pipeline run over the raw ceiling of its own round",
        "targets_judge": f"medians over the rounds, only with {MIN_ROUNDS} rounds or more",
        "latency": [
            {"readings_per_s": rate, "seconds": seconds, "readings_per_message": per_message}
            for rate, seconds, per_message in streams
        ],
        "latency_judged_when_publisher_reaches": RATE_REACHED,
        "latency_visibility_poll_s": VISIBILITY_POLL_S,
        "latency_visibility": "count of each message's first and last reading's series",
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


def main_json(**kwargs: Any) -> str:
    """The benchmark's one JSON line."""
    return json.dumps(run(**kwargs))
