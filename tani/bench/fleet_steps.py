"""The parent side of ``tani bench fleet``: its load generators, its probes, one step measured.

- :class:`Generators`: the load-generator processes (``tani.bench.fleet_gateways``), each with
  its share of the gateways, steered over a pipe;
- :class:`ProbeWatcher`: times sampled batches from publish until InfluxDB answers for them;
- :class:`StepRunner`: one step of the ramp: connect, warm up, three windows with the CPU of
  every process read at their edges, drain, count what InfluxDB holds, and the step's figures.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import statistics
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from storage.influx import InfluxDB
from storage.schema import MEASUREMENT
from tani.bench.fleet_field import FIELD_PUBLISH_S, READINGS_PER_BATCH
from tani.bench.fleet_gateways import GeneratorPlan, generator_main
from tani.bench.ingest_load import BenchError, Counter, IngestWorker
from tani.bench.wire import process_cpu_s, process_rss_mb
from tani.stack import Stack

P99_LIMIT_S = 1.0
WINDOWS = 3
DATABASE = "fleet"
DRAIN_TIMEOUT_S = 30.0
PROBE_EVERY_S = 0.5  # per load generator: a few InfluxDB point queries a second in all
PROBE_POLL_S = 0.05
PROBE_GIVE_UP_S = 30.0
SESSION_EXPIRY_S = 3600  # --persistent-sessions only


class ProbeWatcher(threading.Thread):
    """Times sampled batches from publish until InfluxDB answers for them."""

    def __init__(self, url: str, probes: multiprocessing.Queue[Any]) -> None:
        super().__init__(name="fleet-probes", daemon=True)
        self.seen: dict[int, list[float]] = {}  # window -> latencies
        self.given_up = 0
        self.queries = 0
        self.error: Exception | None = None
        self._influx = InfluxDB(url, DATABASE)
        self._probes = probes
        self._waiting: list[tuple[int, str, int, float]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        """Poll until stopped."""
        try:
            while not self._halt.wait(PROBE_POLL_S):
                while True:
                    try:
                        self._waiting.append(self._probes.get_nowait())
                    except queue.Empty:
                        break
                self._waiting = [p for p in self._waiting if not self._stored(*p)]
        except Exception as exc:  # reported by the main thread, which owns the result
            self.error = exc
        finally:
            self._influx.close()

    def _stored(self, window: int, gateway_id: str, time_ms: int, published: float) -> bool:
        series = self._influx.query(
            f"SELECT count(value) FROM {MEASUREMENT} WHERE gateway_id = $gateway "
            f"AND time = {time_ms}ms",
            {"gateway": gateway_id},
        )
        now = time.monotonic()
        self.queries += 1
        if series and int(series[0].values[0][1]) >= READINGS_PER_BATCH:
            self.seen.setdefault(window, []).append(now - published)
            return True
        if now - published > PROBE_GIVE_UP_S:
            self.given_up += 1
            return True
        return False

    def take(self) -> tuple[dict[int, list[float]], int, int]:
        """Wait until every probe so far is settled; hand over (and reset) what was seen, how
        many gave up, and how many queries it took."""
        deadline = time.monotonic() + PROBE_GIVE_UP_S + 5
        while (self._waiting or not self._probes.empty()) and time.monotonic() < deadline:
            time.sleep(PROBE_POLL_S)
        taken = self.seen, self.given_up, self.queries
        self.seen, self.given_up, self.queries = {}, 0, 0
        return taken

    def stop(self) -> None:
        """End the polling."""
        self._halt.set()
        self.join()


class Generators:
    """The load-generator processes and their control pipes."""

    def __init__(
        self,
        stack: Stack,
        passwords: dict[str, str],
        count: int,
        keepalive_s: int,
        persistent_sessions: bool,
    ) -> None:
        # spawn: the children start clean, without this process's threads and connections.
        context = multiprocessing.get_context("spawn")
        self.probes: multiprocessing.Queue[Any] = context.Queue()
        self.count = count
        ordered = list(passwords.items())
        self._pipes: list[Connection] = []
        self.processes: list[multiprocessing.process.BaseProcess] = []
        for n in range(count):
            plan = GeneratorPlan(
                stack.mqtt_host,
                stack.mqtt_port,
                tuple(ordered[n::count]),  # round robin: every step is spread evenly
                keepalive_s,
                persistent_sessions,
                SESSION_EXPIRY_S,
                PROBE_EVERY_S,
                seed=n,
            )
            parent, child = context.Pipe()
            process = context.Process(
                target=generator_main, args=(plan, child, self.probes), name=f"fleet-gen-{n}"
            )
            process.start()
            child.close()
            self._pipes.append(parent)
            self.processes.append(process)

    def ask(self, commands: list[tuple[Any, ...]], timeout_s: float) -> list[dict[str, Any]]:
        """Send one command to each generator; their answers, in order."""
        for pipe, command in zip(self._pipes, commands, strict=True):
            pipe.send(command)
        answers = []
        deadline = time.monotonic() + timeout_s
        for pipe, process in zip(self._pipes, self.processes, strict=True):
            while not pipe.poll(0.2):
                if not process.is_alive():
                    raise BenchError(f"load generator {process.name} exited ({process.exitcode})")
                if time.monotonic() > deadline:
                    raise BenchError(f"load generator {process.name} did not answer")
            answers.append(pipe.recv())
        return answers

    def share(self, connections: int) -> list[int]:
        """How many of the first ``connections`` gateways each generator drives."""
        return [len(range(n, connections, self.count)) for n in range(self.count)]

    def close(self) -> None:
        """Disconnect every gateway and end the processes."""
        for pipe, process in zip(self._pipes, self.processes, strict=True):
            if process.is_alive():
                pipe.send(("stop",))
        for process in self.processes:
            process.join(30)
            if process.is_alive():
                process.kill()
                process.join()


def _box_busy_s() -> float:
    """CPU seconds the whole machine has been busy (every core, every process)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 4)
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return round(cuts[round(fraction * 100) - 1], 4)


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 4) if present else None


@dataclass(frozen=True)
class _Measured:
    """What one step gathered, before it becomes figures."""

    connections: int
    connected: int
    connect_s: float
    samples: list[tuple[float, dict[str, float]]]  # (time, CPU seconds) at each window edge
    reports: list[dict[str, Any]]  # one per load generator
    seen: dict[int, list[float]]  # window -> publish-to-queryable of its probes
    given_up: int
    queries: int
    stored: int
    rss_mb: float


class StepRunner:
    """Measures the steps of one fleet run: the server's processes, the generators, the probes."""

    def __init__(
        self,
        stack: Stack,
        workers: list[IngestWorker],
        generators: Generators,
        watcher: ProbeWatcher,
        interval_s: float,
        window_s: float,
    ) -> None:
        status = stack.status()
        self._server = {
            "mosquitto": [status.mosquitto.pid or 0],
            "ingest": [w.process.pid for w in workers],
            "influxd": [status.influxd.pid or 0],
        }
        self._mosquitto_pid = status.mosquitto.pid or 0
        # Before any gateway connects: what the connections add is measured against it.
        self._mosquitto_base_mb = process_rss_mb(self._mosquitto_pid)
        self._workers = workers
        self._generators = generators
        self._watcher = watcher
        self._counter = Counter(stack.influx_url, DATABASE)
        self._interval_s = interval_s
        self._window_s = window_s

    def close(self) -> None:
        """Close the counter's connections."""
        self._counter.close()

    def _cpu(self) -> dict[str, float]:
        cpu = {name: sum(process_cpu_s(p) for p in pids) for name, pids in self._server.items()}
        cpu["load_generators"] = sum(process_cpu_s(p.pid or 0) for p in self._generators.processes)
        cpu["bench_process"] = process_cpu_s(os.getpid())
        cpu["box"] = _box_busy_s()
        return cpu

    def step(self, connections: int) -> dict[str, Any]:
        """Connect up to ``connections`` gateways, measure three windows, drain, count."""
        started = time.monotonic()
        shares = self._generators.share(connections)
        answers = self._generators.ask([("connect", n) for n in shares], timeout_s=180)
        connected = sum(a["connected"] for a in answers)
        connect_s = time.monotonic() - started
        warmup_s = self._interval_s + 1.0
        start = time.monotonic() + 0.2
        edges = [start + warmup_s + k * self._window_s for k in range(WINDOWS + 1)]
        since_ms = time.time_ns() // 1_000_000
        self._generators.ask([("run", start, self._interval_s, edges)] * len(shares), 10)
        samples = []
        for edge in edges:
            self._check_workers()
            time.sleep(max(0.0, edge - time.monotonic()))
            samples.append((time.monotonic(), self._cpu()))
        rss_mb = process_rss_mb(self._mosquitto_pid)
        reports = self._generators.ask([("drain", DRAIN_TIMEOUT_S)] * len(shares), 60)
        self._check_workers()
        seen, given_up, queries = self._watcher.take()
        measured = _Measured(
            connections,
            connected,
            connect_s,
            samples,
            reports,
            seen,
            given_up,
            queries,
            self._counter.count(since_ms),
            rss_mb,
        )
        return self._figures(measured)

    def _check_workers(self) -> None:
        for worker in self._workers:
            worker.check_alive()

    def _window(self, k: int, m: _Measured) -> dict[str, Any]:
        """The figures of window ``k`` (1-based; 0 is the warm-up)."""
        (t0, cpu0), (t1, cpu1) = m.samples[k - 1], m.samples[k]
        cores = {name: round((cpu1[name] - cpu0[name]) / (t1 - t0), 3) for name in cpu0}
        server = round(sum(cores[name] for name in self._server), 3)
        # What the rest of a shared machine took meanwhile: a step that fails while other
        # work takes the cores failed for want of them, not only of the server.
        box = cores.pop("box")
        cores["other_processes"] = round(max(0.0, box - sum(cores.values())), 3)
        acks = [x for r in m.reports for x in r["windows"][k]["ack_latencies"]]
        lags = [x for r in m.reports for x in r["windows"][k]["publish_lags"]]
        messages = sum(r["windows"][k]["messages"] for r in m.reports)
        health = sum(r["windows"][k]["health"] for r in m.reports)
        seen = m.seen.get(k, [])
        return {
            "batches": messages,
            "batches_per_s": round(messages / (t1 - t0), 1),
            "readings_per_s": round(messages * READINGS_PER_BATCH / (t1 - t0)),
            "health_reports_per_s": round(health / (t1 - t0), 1),
            "ack_p50_s": _percentile(acks, 0.5),
            "ack_p99_s": _percentile(acks, 0.99),
            "queryable_p50_s": _percentile(seen, 0.5),
            "queryable_p99_s": _percentile(seen, 0.99),
            "queryable_samples": len(seen),
            "publish_lag_p99_s": _percentile(lags, 0.99),
            "server_cores": server,
            "cores": cores,
        }

    def _figures(self, m: _Measured) -> dict[str, Any]:
        windows = [self._window(k, m) for k in range(1, WINDOWS + 1)]
        reports, connections, connected = m.reports, m.connections, m.connected
        # Every measured batch's latency at once: a stall that one window's median hides shows here.
        pooled = [
            x for r in reports for w in r["windows"][1 : WINDOWS + 1] for x in w["ack_latencies"]
        ]
        published = sum(w["readings"] for r in reports for w in r["windows"])
        unacked = sum(r["unacked_readings"] for r in reports)
        counts = {
            key: sum(r[key] for r in reports)
            for key in ("refused", "disconnects", "publish_errors", "bad_acks")
        }
        server_cores = _median([w["server_cores"] for w in windows])
        compression = FIELD_PUBLISH_S / self._interval_s
        figures: dict[str, Any] = {
            "connections": connections,
            "connected": connected,
            "field_gateways": round(connections * compression),
            "connect_seconds": round(m.connect_s, 2),
            "batches_per_s": _median([w["batches_per_s"] for w in windows]),
            "readings_per_s": _median([w["readings_per_s"] for w in windows]),
            "ack_p50_s": _median([w["ack_p50_s"] for w in windows]),
            "ack_p99_s": _median([w["ack_p99_s"] for w in windows]),
            "ack_p99_all_windows_s": _percentile(pooled, 0.99),
            "queryable_p99_s": _median([w["queryable_p99_s"] for w in windows]),
            "queryable_not_seen_in_30_s": m.given_up,
            "queryable_probe_queries": m.queries,
            "publish_lag_p99_s": _median([w["publish_lag_p99_s"] for w in windows]),
            "server_cores": server_cores,
            "load_generator_cores": _median([w["cores"]["load_generators"] for w in windows]),
            "other_processes_cores": _median([w["cores"]["other_processes"] for w in windows]),
            "connections_per_server_core": (
                round(connections / server_cores) if server_cores else None
            ),
            "field_gateways_per_server_core": (
                round(connections * compression / server_cores) if server_cores else None
            ),
            "published_readings": published,
            "stored_readings": m.stored,
            "lost": published - m.stored,
            "unacked_readings": unacked,
            **counts,
            "mosquitto_rss_mb": round(m.rss_mb, 1),
            "mosquitto_kb_per_connection": round(
                (m.rss_mb - self._mosquitto_base_mb) * 1000 / max(connected, 1), 1
            ),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "windows": windows,
        }
        figures["failed_because"] = _failures(figures)
        return figures


def _failures(step: dict[str, Any]) -> list[str]:
    """Why a step does not count (empty: it passed)."""
    reasons = []
    if step["connected"] < step["connections"] or step["refused"]:
        reasons.append("not every gateway could connect")
    if step["disconnects"]:
        reasons.append("connections dropped")
    if step["ack_p99_s"] is None or step["ack_p99_s"] > P99_LIMIT_S:
        reasons.append(f"p99 publish-to-ack above {P99_LIMIT_S:g} s")
    queryable = step["queryable_p99_s"]
    if queryable is None or queryable > P99_LIMIT_S or step["queryable_not_seen_in_30_s"]:
        reasons.append(f"p99 publish-to-queryable (sampled) above {P99_LIMIT_S:g} s")
    if step["lost"]:
        reasons.append("readings lost")
    if step["unacked_readings"] or step["publish_errors"] or step["bad_acks"]:
        reasons.append("readings not acknowledged end to end")
    if step["publish_lag_p99_s"] is not None and step["publish_lag_p99_s"] > P99_LIMIT_S:
        # The load generators could not keep their schedule: the box, not only the server, is
        # saturated, and the step asked less of the server than planned.
        reasons.append("load generators behind their schedule")
    return reasons
