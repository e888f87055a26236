"""The runs ``tani bench ingest`` is made of: raw ceiling, pipeline burst, latency stream.

Each run writes to a database of its own, named by the caller, and returns a compact dict of
its figures (or raises :class:`~tani.bench.ingest_load.BenchError` when it cannot measure).
"""

from __future__ import annotations

import os
import queue
import statistics
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
from paho.mqtt.client import MQTTMessageInfo

from registry.store import DevicePlacement
from storage.schema import PRECISION, reading_line
from tani.bench.ingest_load import (
    SLOW_WRITE_S,
    WRITE_BUCKETS,
    BenchError,
    Counter,
    IngestSetup,
    IngestWorker,
    Layout,
    Publishers,
    ingest_workers,
    settle,
    wait_until,
)
from tani.bench.ingest_rounds import percentile, rate_reached
from tani.bench.ingest_watcher import Watcher
from tani.bench.wire import process_cpu_s
from tani.stack import Stack
from telemetry.codec import encode_batch

RAW_BATCH_LINES = 5000
RAW_WRITERS = (1, 4)
VISIBILITY_POLL_S = 0.025
# How long the latency run waits, after its last publish, for every probe to become visible.
VISIBLE_WITHIN_S = 30.0
# No growth in the stored count for this long means what is missing will not come.
STALL_S = 20.0


@dataclass(frozen=True)
class Bench:
    """The stack and the clients every run of one benchmark shares."""

    stack: Stack
    setup: IngestSetup
    publishers: Publishers
    gateways: tuple[str, ...]
    influxd_pid: int
    mosquitto_pid: int


@dataclass(frozen=True)
class Burst:
    """The burst, encoded once for every round: payloads (slot 0 warms up) and the same
    readings as line protocol for the raw writers."""

    layout: Layout
    warmup: list[tuple[str, bytes]]
    measured: list[tuple[str, bytes]]
    raw_bodies: list[bytes]
    raw_readings: int

    @property
    def readings(self) -> int:
        """Readings of the measured messages (the warm-up slot not counted)."""
        return len(self.measured) * self.layout.per_message


def make_burst(
    gateways: tuple[str, ...],
    readings: int,
    per_message: int,
    placements: dict[tuple[str, str], DevicePlacement],
) -> Burst:
    """At least ``readings`` readings in messages of ``per_message``, one slot per gateway round."""
    layout = Layout.starting(gateways, per_message, days_ago=30)
    slots_needed = -(-readings // (per_message * len(gateways)))
    slots: list[list[tuple[str, bytes]]] = []
    lines: list[str] = []
    bodies: list[bytes] = []
    total = 0
    for slot in range(slots_needed + 1):
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
    return Burst(layout, slots[0], [m for s in slots[1:] for m in s], bodies, total)


def raw_ceiling(bench: Bench, burst: Burst, database_prefix: str) -> dict[str, Any]:
    """InfluxDB's own ceiling: the burst's line protocol POSTed by 1 and by 4 writers.

    Each writer count writes into ``<database_prefix>_<n>w``; the best readings/s counts.
    """
    result: dict[str, Any] = {}
    lost = 0
    for writers in RAW_WRITERS:
        database = f"{database_prefix}_{writers}w"
        settle(bench.influxd_pid)
        counter = Counter(bench.stack.influx_url, database)
        try:
            counter.create()
            seconds = raw_write(bench.stack.influx_url, database, burst.raw_bodies, writers)
            lost += burst.raw_readings - counter.count(burst.layout.base_ms)
        finally:
            counter.close()
        result[f"writers_{writers}"] = round(burst.raw_readings / seconds)
    return {"readings_per_s": max(result.values()), **result, "lost": lost}


def raw_write(url: str, database: str, bodies: list[bytes], writers: int) -> float:
    """Seconds ``writers`` threads take to POST every body to ``/write``."""
    work: queue.SimpleQueue[bytes] = queue.SimpleQueue()
    for body in bodies:
        work.put(body)
    errors: list[str] = []

    def writer() -> None:
        with httpx.Client(base_url=url, timeout=60.0) as http:
            while not errors:
                try:
                    body = work.get_nowait()
                except queue.Empty:
                    return
                response = http.post(
                    "/write", params={"db": database, "precision": PRECISION}, content=body
                )
                if response.status_code != 204:
                    errors.append(f"{response.status_code}: {response.text[:200]}")

    threads = [threading.Thread(target=writer, name=f"raw-writer-{n}") for n in range(writers)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    if errors:
        raise BenchError(f"InfluxDB refused a raw write: {errors[0]}")
    return elapsed


def _drain(
    counter: Counter, burst: Burst, expected: int, workers: list[IngestWorker]
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


def _cpu(bench: Bench, workers: list[IngestWorker]) -> dict[str, float]:
    return {
        "ingest": sum(process_cpu_s(w.process.pid) for w in workers),
        "influxd": process_cpu_s(bench.influxd_pid),
        "mosquitto": process_cpu_s(bench.mosquitto_pid),
        "bench_publisher_and_poller": process_cpu_s(os.getpid()),
    }


def _cores(before: dict[str, float], after: dict[str, float], seconds: float) -> dict[str, float]:
    return {name: round((after[name] - before[name]) / seconds, 2) for name in after}


def throughput(bench: Bench, burst: Burst, workers: int, database: str) -> dict[str, Any]:
    """The burst through Mosquitto and ``workers`` ingest processes into ``database``."""
    layout = burst.layout
    settle(bench.influxd_pid)
    counter = Counter(bench.stack.influx_url, database)
    try:
        # Made here, not left to ingest: counting must not race its CREATE DATABASE.
        counter.create()
        with ingest_workers(bench.setup, database, workers, _label(database)) as running:
            bench.publishers.publish_all(burst.warmup)
            warm = len(burst.warmup) * layout.per_message
            counter.wait_for(layout.base_ms, warm, running)
            cpu_before = _cpu(bench, running)
            worker_cpu = [[process_cpu_s(w.process.pid) for w in running]]
            started = time.monotonic()
            bench.publishers.publish_all(burst.measured)
            published_at = time.monotonic()
            expected = warm + burst.readings
            stored, done_at = _drain(counter, burst, expected, running)
            cpu_after = _cpu(bench, running)
            worker_cpu.append([process_cpu_s(w.process.pid) for w in running])
    finally:
        counter.close()
    elapsed = done_at - started
    result: dict[str, Any] = {
        "readings_per_s": round(burst.readings / elapsed),
        "ingest_cpu_us_per_reading": round(
            (cpu_after["ingest"] - cpu_before["ingest"]) / burst.readings * 1e6, 2
        ),
        "lost": expected - stored,
        "seconds": round(elapsed, 2),
        "publish_seconds": round(published_at - started, 2),
        "cores": _cores(cpu_before, cpu_after, elapsed),
    }
    if workers > 1:
        # An even split shows the shared subscription shares (duplicates would double it).
        result["ingest_cpu_s_per_worker"] = [
            round(after - before, 2) for before, after in zip(*worker_cpu, strict=True)
        ]
    return result


@dataclass(frozen=True)
class LatencyLoad:
    """A steady stream, encoded once for both worker counts: warm-up messages (one per
    gateway) and the probes, published ``per_s`` a second."""

    layout: Layout
    warmup: list[tuple[str, bytes]]
    probes: list[tuple[str, bytes]]
    asked_rate: float

    @property
    def per_s(self) -> float:
        """Probe messages a second."""
        return self.asked_rate / self.layout.per_message


def latency_load(
    gateways: tuple[str, ...], rate: float, seconds: float, per_message: int, days_ago: float
) -> LatencyLoad:
    """``seconds`` of ``rate`` readings/s in messages of ``per_message``, gateways in turn."""
    layout = Layout.starting(gateways, per_message, days_ago=days_ago)

    def message(j: int) -> tuple[str, bytes]:
        gateway_id = gateways[j % len(gateways)]
        first_seq = j // len(gateways) * per_message + 1
        return gateway_id, encode_batch(gateway_id, layout.readings(gateway_id, j, first_seq))

    probes = max(2, round(seconds * rate / per_message))
    return LatencyLoad(
        layout,
        [message(j) for j in range(len(gateways))],
        [message(len(gateways) + k) for k in range(probes)],
        rate,
    )


def latency(bench: Bench, load: LatencyLoad, workers: int, database: str) -> dict[str, Any]:
    """Publish → queryable latency of ``load`` through ``workers`` ingest processes."""
    layout, probes, per_s = load.layout, load.probes, load.per_s
    settle(bench.influxd_pid)
    counter = Counter(bench.stack.influx_url, database)
    watcher_counter = Counter(bench.stack.influx_url, database)
    try:
        counter.create()  # as in throughput()
        with ingest_workers(bench.setup, database, workers, _label(database)) as running:
            bench.publishers.publish_all(load.warmup)
            counter.wait_for(layout.base_ms, len(load.warmup) * layout.per_message, running)
            watcher = Watcher(watcher_counter, layout, len(load.warmup), VISIBILITY_POLL_S)
            watcher.start()
            sent: list[float] = []
            infos: list[MQTTMessageInfo] = []
            cpu_before, writes_before = _cpu(bench, running), _write_totals(running)
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

                wait_until(all_seen, VISIBLE_WITHIN_S)
                ended = time.monotonic()
                cpu_after, writes_after = _cpu(bench, running), _write_totals(running)
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
    # A probe never seen counts with the time waited for it: a lower bound of its latency.
    latencies = sorted(watcher.seen.get(k, ended) - sent[k] for k in range(len(probes)))
    achieved = round(len(probes) * layout.per_message / (sent[-1] - sent[0] + 1 / per_s))
    lag = sorted(at - (started + k / per_s) for k, at in enumerate(sent))
    queries = sorted(watcher.query_s)
    expected = (len(load.warmup) + len(probes)) * layout.per_message
    return {
        "asked_readings_per_s": load.asked_rate,
        "readings_per_s": achieved,
        "rate_reached": rate_reached(load.asked_rate, achieved),
        "messages": len(probes),
        "readings_per_message": layout.per_message,
        "p50_s": percentile(latencies, 0.5),
        "p99_s": percentile(latencies, 0.99),
        "max_s": round(latencies[-1], 4),
        "mean_s": round(statistics.fmean(latencies), 4),
        f"not_visible_within_{VISIBLE_WITHIN_S:g}_s": len(probes) - len(watcher.seen),
        # How late the publisher called publish() against its schedule (its own lag).
        "publish_lag_p99_s": percentile(lag, 0.99),
        "watcher": {
            "queries": len(queries),
            "query_p50_s": percentile(queries, 0.5),
            "query_p99_s": percentile(queries, 0.99),
            "widest_messages": watcher.widest,
        },
        "cores": _cores(cpu_before, cpu_after, ended - started),
        "ingest_writes": _writes(writes_before, writes_after),
        "lost": expected - stored,
    }


def _write_totals(workers: list[IngestWorker]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for worker in workers:
        for name, value in worker.write_totals().items():
            totals[name] = totals.get(name, 0.0) + value
    return totals


def _writes(before: dict[str, float], after: dict[str, float]) -> dict[str, Any] | None:
    """Ingest's InfluxDB writes between two readings of its /metrics (None without them)."""
    done = {name: after[name] - before.get(name, 0.0) for name in after}
    writes = done.get("tani_ingest_write_seconds_count")
    batches = done.get("tani_ingest_batches_total")
    if not writes or not batches or "tani_ingest_readings_written_total" not in done:
        return None
    slow = {
        f"over_{limit}_s": int(writes - done[f"{WRITE_BUCKETS}_{limit}"])
        for limit in SLOW_WRITE_S
        if f"{WRITE_BUCKETS}_{limit}" in done
    }
    return {
        "writes": int(writes),
        "readings_per_write": round(done["tani_ingest_readings_written_total"] / batches),
        "mean_s": round(done["tani_ingest_write_seconds_sum"] / writes, 4),
        **slow,
    }


def _label(database: str) -> str:
    """The ingest workers' name (client id, config and log files) for a run's database."""
    return database.removeprefix("bench_").replace("_", "-")
