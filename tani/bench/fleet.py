"""``tani bench fleet``: how many gateways one server carries before latency or loss gives way.

One Mosquitto, influxd and the ingest workers (``tani stack`` and ``tani ingest`` processes,
the server) take thousands of emulated gateways (``tani.bench.fleet_gateways``: each its own
MQTT login and session, a 7-in-1 probe and a weather station, 14 readings a batch, a health
report, ingest's end-to-end acks), driven by a few load-generator processes on the same box.

**Time is compressed.** In the field a gateway sends a batch and a health report every
5 minutes; here each connection sends them every ``interval_s`` (3 s by default, a compression
of 100). What the server does per message (route it, decode it, write it, ack it) then happens
100 times as often per connection, so one connection stands for ``compression`` field gateways
in messages, readings and acks: ``field_gateways`` = connections x compression. What the server
holds per connection (a socket, a session, a subscription, a retained status) is not
multiplied: a real fleet of that size also needs that many descriptors and that much broker
memory (``mosquitto_kb_per_connection`` gives the arithmetic). The keepalive pings of idle
field gateways (about four 2-byte PINGREQs per gateway per batch at a 60 s keepalive, answered
without routing) are not multiplied either, nor is TLS (the local stack speaks plain MQTT).

**The ramp.** The number of connections goes up step by step (``steps``). At each step, after a
warm-up interval, three back-to-back windows of ``window_s`` are measured; then publishing
stops and every batch must be acknowledged end to end and counted in InfluxDB. A step passes
when the median over its windows of the p99 publish-to-ack latency is at most 1 s (the ack
leaves ingest only after InfluxDB accepted the write, so it bounds publish-to-queryable from
above; a sample of batches is also timed until InfluxDB answers for them) and no reading is lost
or unacknowledged. The ramp stops at the first step that fails; the last good step is the
result: its connections and field gateways per server core, the server's cores being the CPU
time of Mosquitto, ingest and influxd over the windows (median of three), not the load
generators', which are reported apart.

**Median of three.** There is no reference to interleave here (no ceiling to divide by); each
step's figures are the median of its three windows, which keeps one disturbed window on a
shared machine from deciding a step, and the loss check covers all of them. Beside the median,
``ack_p99_all_windows_s`` (every measured batch at once) shows what it smooths over, and
``other_processes_cores`` what the rest of a shared machine took meanwhile.

**Ingest's settings.** Ingest runs as configured by default but for two settings paced in
field time, given as ``TANI_INGEST_*`` variables:

- ``[acks] delay_s = 0``: in the field the 150 s gathering delay is shorter than the 5-minute
  interval, so every batch gets an ack of its own there too; scaled down, the delay would only
  add a constant wait to what the bench measures;
- ``gap_audit_s`` = a day, i.e. the sequence audit off: every 60 s each worker counts the
  sequence numbers of the last 24 hours of every gateway, in the thread that decodes messages.
  The bench holds minutes of data where a field fleet holds 24 hours (4,032 points a day per
  gateway), so its cost here would grow with the bench's own age and say nothing about the
  field; at a province's size it would dominate (see deploy/README.md).

Ingest's rollups (every 900 s) do not run within a step either.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from tani.bench.fleet_field import FIELD_HEALTH_S, FIELD_PUBLISH_S, READINGS_PER_BATCH
from tani.bench.fleet_setup import (
    INGEST_USER,
    add_users,
    fill_registry,
    gateway_ids,
    machine,
    prepare_limits,
)
from tani.bench.fleet_steps import (
    DATABASE,
    DRAIN_TIMEOUT_S,
    P99_LIMIT_S,
    PROBE_EVERY_S,
    SESSION_EXPIRY_S,
    WINDOWS,
    Generators,
    ProbeWatcher,
    StepRunner,
)
from tani.bench.ingest_load import BenchError, Counter, IngestSetup, ingest_workers
from tani.stack import Stack, StackConfig, free_ports

DEFAULT_STEPS = (500, 1000, 1500, 2000, 2500, 3000, 4000, 6000)
# Other processes' use of the cores worth pointing out next to a failing step.
OTHERS_NOTICED_CORES = 0.2
# Ingest's settings paced in field time (see the module's docstring).
INGEST_ENVIRONMENT = {"TANI_INGEST_ACKS__DELAY_S": "0", "TANI_INGEST_GAP_AUDIT_S": "86400"}


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Environment variables for the processes started inside (ingest reads TANI_INGEST_*)."""
    before = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                del os.environ[key]
            else:
                os.environ[key] = value


def run(
    steps: tuple[int, ...] = DEFAULT_STEPS,
    interval_s: float = 3.0,
    window_s: float = 15.0,
    workers: int = 2,
    generators: int = 2,
    keepalive_s: int = 60,
    persistent_sessions: bool = False,
) -> dict[str, Any]:
    """Ramp the fleet until a step fails; returns the JSON-ready result."""
    if list(steps) != sorted(set(steps)) or steps[0] < generators:
        raise ValueError("steps must rise, and the first must give every generator a gateway")
    limits = prepare_limits(steps[-1])
    ids = gateway_ids(steps[-1])
    with tempfile.TemporaryDirectory(prefix="tani-bench-fleet-") as tmp:
        work = Path(tmp)
        mqtt_port, influx_port, rpc_port = free_ports(3)
        stack = Stack(StackConfig(work / "stack", "127.0.0.1", mqtt_port, influx_port, rpc_port))
        passwords = add_users(stack, ids)
        fill_registry(work / "registry.sqlite3", ids)
        stack.up()
        try:
            with ExitStack() as cleanup:
                result: dict[str, Any] = {
                    "benchmark": "fleet",
                    "machine": machine(stack, limits),
                    "settings": _settings(
                        steps,
                        interval_s,
                        window_s,
                        workers,
                        generators,
                        keepalive_s,
                        persistent_sessions,
                    ),
                }
                setup = IngestSetup(
                    stack,
                    stack.mqtt_credentials(INGEST_USER),
                    f"sqlite:///{work / 'registry.sqlite3'}",
                    work,
                )
                # Made before ingest starts: the probe watcher must not race its CREATE DATABASE.
                counter = Counter(stack.influx_url, DATABASE)
                try:
                    counter.create()
                finally:
                    counter.close()
                with _environment(**INGEST_ENVIRONMENT):
                    running = cleanup.enter_context(
                        ingest_workers(setup, DATABASE, workers, "fleet")
                    )
                fleet = Generators(stack, passwords, generators, keepalive_s, persistent_sessions)
                cleanup.callback(fleet.close)
                watcher = ProbeWatcher(stack.influx_url, fleet.probes)
                watcher.start()
                cleanup.callback(watcher.stop)
                bench = StepRunner(stack, running, fleet, watcher, interval_s, window_s)
                cleanup.callback(bench.close)
                result["steps"] = []
                for connections in steps:
                    try:
                        step = bench.step(connections)
                    except BenchError as exc:
                        result["steps"].append({"connections": connections, "error": str(exc)})
                        break
                    result["steps"].append(step)
                    if watcher.error is not None:
                        raise BenchError(f"probe watcher failed: {watcher.error}")
                    if step["failed_because"]:
                        break
        finally:
            stack.down()
    result["result"] = _result(result["steps"], interval_s)
    result["targets"] = _targets(result["result"])
    return result


def _settings(
    steps: tuple[int, ...],
    interval_s: float,
    window_s: float,
    workers: int,
    generators: int,
    keepalive_s: int,
    persistent_sessions: bool,
) -> dict[str, Any]:
    return {
        "steps_connections": list(steps),
        "interval_s": interval_s,
        "field_interval_s": FIELD_PUBLISH_S,
        "compression": round(FIELD_PUBLISH_S / interval_s, 2),
        "field_gateways_per_connection": round(FIELD_PUBLISH_S / interval_s, 2),
        "field_profile": (
            "one 7-in-1 soil probe and one weather station polled every 5 minutes: a batch of "
            f"{READINGS_PER_BATCH} readings (binary format, QoS 1, topic alias) after each poll "
            f"and a JSON health report every {FIELD_HEALTH_S:g} s; one end-to-end ack per batch"
        ),
        "gateway_sessions": (
            f"persistent (clean start off, session expiry {SESSION_EXPIRY_S} s)"
            if persistent_sessions
            else "clean start, as gateway/publisher.py connects (its outbox is the session)"
        ),
        "gateway_keepalive_s": keepalive_s,
        "warmup_s": interval_s + 1.0,
        "windows_per_step": WINDOWS,
        "window_s": window_s,
        "step_figure": "median of the step's windows",
        "p99_limit_s": P99_LIMIT_S,
        "drain_timeout_s": DRAIN_TIMEOUT_S,
        "ingest_workers": workers,
        "ingest_shared_group": "tani-ingest" if workers > 1 else None,
        "ingest_environment": INGEST_ENVIRONMENT,
        "load_generator_processes": generators,
        "queryable_probes_per_s": round(generators / PROBE_EVERY_S, 1),
        "server_processes": "mosquitto, influxd, ingest workers (their CPU is the server's)",
    }


def _result(steps: list[dict[str, Any]], interval_s: float) -> dict[str, Any]:
    good = [s for s in steps if "error" not in s and not s["failed_because"]]
    failing = next((s for s in steps if "error" in s or s["failed_because"]), None)
    last = good[-1] if good else None
    result: dict[str, Any] = {
        "limit_reached": failing is not None,
        "first_failing_step": None if failing is None else _failing(failing),
        "reported_step_connections": last["connections"] if last else None,
    }
    if last is None:
        return result
    cpu_count = os.cpu_count() or 1
    if failing is None:
        verdict = "No step failed: the figures are a lower bound; add larger steps."
    else:
        verdict = (
            f"The next step ({failing['connections']} connections) failed, so the limit on this "
            "box lies between the two"
        )
        others = failing.get("other_processes_cores")
        verdict += (
            f"; other processes took {others} cores while it ran, so part of that limit is theirs."
            if others and others >= OTHERS_NOTICED_CORES
            else "."
        )
    return result | {
        "field_gateways": last["field_gateways"],
        "server_cores_used": last["server_cores"],
        "connections_per_server_core": last["connections_per_server_core"],
        "field_gateways_per_server_core": last["field_gateways_per_server_core"],
        "ack_p99_s": last["ack_p99_s"],
        "queryable_p99_s": last["queryable_p99_s"],
        "lost": last["lost"],
        "box_cores": cpu_count,
        "load_generator_cores": last["load_generator_cores"],
        "other_processes_cores": last["other_processes_cores"],
        "explained": (
            f"{last['connections']} connections each publishing every {interval_s:g} s carry "
            f"the batches, readings and acks of {last['field_gateways']} field gateways "
            f"publishing every {FIELD_PUBLISH_S / 60:g} minutes; the server (Mosquitto, ingest, "
            f"influxd) used {last['server_cores']} cores for them, while the load generators "
            f"used {last['load_generator_cores']} of the same {cpu_count}. {verdict}"
        ),
    }


def _failing(step: dict[str, Any]) -> dict[str, Any]:
    if "error" in step:
        return {"connections": step["connections"], "why": [step["error"]]}
    keys = (
        "connections",
        "ack_p99_s",
        "lost",
        "server_cores",
        "load_generator_cores",
        "other_processes_cores",
    )
    return {**{key: step[key] for key in keys}, "why": step["failed_because"]}


def _targets(result: dict[str, Any]) -> dict[str, bool | None]:
    """Issue 14's criteria at the reported step; None where no step passed."""
    if result["reported_step_connections"] is None:
        return {"p99 <= 1 s at the reported step": None, "0 lost at the reported step": None}
    return {
        "p99 <= 1 s at the reported step": result["ack_p99_s"] <= P99_LIMIT_S,
        "0 lost at the reported step": result["lost"] == 0,
        "gateways per server core reported": result["field_gateways_per_server_core"] is not None,
    }


def main_json(**kwargs: Any) -> str:
    """The benchmark's one JSON line."""
    return json.dumps(run(**kwargs))
