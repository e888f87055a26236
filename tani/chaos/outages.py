"""Scenarios where a part of the system is away for a while: InfluxDB, Mosquitto, the disk."""

from __future__ import annotations

import resource
import signal
import time
from pathlib import Path
from typing import Any

from tani.chaos.accounting import gateway_log_counts, outbox_state
from tani.chaos.context import Context
from tani.chaos.services import (
    INFLUXD,
    MOSQUITTO,
    bring_back,
    signal_service,
    start_mosquitto_only,
)
from tani.chaos.world import World

_SIGXFSZ_BIT = 1 << (signal.SIGXFSZ - 1)


def _hold(ctx: Context, world: World, seconds: float) -> dict[str, Any]:
    """Let the fault last ``seconds``, sampling the gateways' outboxes once a second."""
    end = time.monotonic() + seconds
    deepest = 0
    while True:
        depth = sum(outbox_state(g.outbox_path).depth for g in world.gateways)
        deepest = max(deepest, depth)
        left = end - time.monotonic()
        if left <= 0:
            return {"seconds": seconds, "max_outbox_depth": deepest}
        ctx.sleep(min(1.0, left))


def _ingest_evidence(world: World) -> dict[str, int]:
    totals = {"write_failed": 0, "disconnected": 0}
    for worker in world.ingest:
        events = worker.log_events("InfluxDB write failed", "disconnected from broker")
        totals["write_failed"] += events["InfluxDB write failed"]
        totals["disconnected"] += events["disconnected from broker"]
    return totals


def influx_down(ctx: Context) -> dict[str, Any]:
    """influxd stopped (SIGTERM) for a long while, then started again."""
    return _outage(
        ctx,
        INFLUXD,
        "influx",
        ctx.params.influx_down_s,
        "SIGTERM to influxd, wait until it exited; after the outage Stack.up() starts it again "
        "with the same data directory",
    )


def broker_down(ctx: Context) -> dict[str, Any]:
    """Mosquitto stopped (SIGTERM, so it saves its queues) for a long while, then started."""
    return _outage(
        ctx,
        MOSQUITTO,
        "broker",
        ctx.params.broker_down_s,
        "SIGTERM to mosquitto (it writes its persistence file and exits); after the outage "
        "Stack.up() starts it again on the same port and persistence file",
    )


def _outage(ctx: Context, service: str, key: str, down_s: float, how: str) -> dict[str, Any]:
    with World(ctx) as world:
        world.start_gateways()
        world.warm_up()
        pid = signal_service(world.stack, service, signal.SIGTERM)
        ctx.say(f"{service} (pid {pid}) stopped for {down_s:.0f} s")
        held = _hold(ctx, world, down_s)
        back_s = bring_back(world.stack)
        return world.finish(
            time.monotonic(),
            {
                "how": how,
                f"{key}_down_s": down_s,
                f"{key}_start_s": round(back_s, 2),
                **held,
                "ingest_log": _ingest_evidence(world),
            },
        )


def broker_kill_influx_down(ctx: Context) -> dict[str, Any]:
    """influxd stopped; while messages queue at the broker for ingest, the broker is killed."""
    p = ctx.params
    with World(ctx) as world:
        world.start_gateways()
        world.warm_up()
        signal_service(world.stack, INFLUXD, signal.SIGTERM)
        ctx.say(f"influxd stopped; broker killed in {p.influx_before_broker_kill_s:.0f} s")
        before = _hold(ctx, world, p.influx_before_broker_kill_s)
        signal_service(world.stack, MOSQUITTO, signal.SIGKILL)
        ctx.say("kill -9 mosquitto")
        during = _hold(ctx, world, p.broker_killed_s)
        broker_start_s = start_mosquitto_only(world.stack)
        ctx.say("mosquitto back; influxd still down")
        after = _hold(ctx, world, p.influx_after_broker_s)
        influx_start_s = bring_back(world.stack)
        return world.finish(
            time.monotonic(),
            {
                "how": "SIGTERM to influxd; later SIGKILL to mosquitto while ingest cannot "
                "write (its queue in RAM, autosave every 60 s); mosquitto started again alone "
                "(same command line, pid file and persistence file as Stack.up); then influxd "
                "by Stack.up()",
                "influx_down_before_broker_kill_s": p.influx_before_broker_kill_s,
                "broker_killed_s": p.broker_killed_s,
                "influx_down_after_broker_back_s": p.influx_after_broker_s,
                "max_outbox_depth": max(
                    before["max_outbox_depth"],
                    during["max_outbox_depth"],
                    after["max_outbox_depth"],
                ),
                "broker_start_s": round(broker_start_s, 2),
                "influx_start_s": round(influx_start_s, 2),
                "ingest_log": _ingest_evidence(world),
            },
        )


def _ignores_sigxfsz(pid: int) -> bool:
    """Whether ``pid`` ignores SIGXFSZ (then a write past RLIMIT_FSIZE fails with EFBIG)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) & _SIGXFSZ_BIT)
    return False


def outbox_disk_full(ctx: Context) -> dict[str, Any]:
    """A gateway's writes fail as on a full disk for a while, then succeed again.

    No size-limited filesystem can be mounted without root; instead the gateway process's
    RLIMIT_FSIZE soft limit is set to 0 with prlimit(2) (its hard limit, and every other
    process, untouched): each write(2) to a file then fails with EFBIG. Python ignores
    SIGXFSZ, which is checked, so the process is not killed by the signal. That is harsher
    than ENOSPC (overwriting existing pages fails too) and covers the outbox, its WAL and
    everything else the gateway writes; its log goes through a pipe and is kept.
    """
    p, rng = ctx.params, ctx.rng
    with World(ctx) as world:
        world.start_gateways()
        world.warm_up()
        gateway = rng.choice(world.gateways)
        assert gateway.process is not None
        pid = gateway.process.pid
        ignores = _ignores_sigxfsz(pid)
        soft, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
        errors_before = gateway_log_counts(gateway.log_path).outbox_errors
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (0, hard))
        ctx.say(f"{gateway.id} (pid {pid}) cannot write files for {p.disk_full_s:.0f} s")
        try:
            held = _hold(ctx, world, p.disk_full_s)
        finally:
            if gateway.process.alive():
                resource.prlimit(pid, resource.RLIMIT_FSIZE, (soft, hard))
        survived = gateway.process.alive() and gateway.process.pid == pid
        return world.finish(
            time.monotonic(),
            {
                "how": "prlimit(2) RLIMIT_FSIZE soft limit 0 on the gateway process (hard "
                "limit unchanged), restored after the fault: every file write fails with "
                "EFBIG, as on a full disk (harsher: overwrites fail too)",
                "gateway": gateway.id,
                "disk_full_s": p.disk_full_s,
                "sigxfsz_ignored": ignores,
                "process_survived": survived,
                "outbox_errors_logged": gateway_log_counts(gateway.log_path).outbox_errors
                - errors_before,
                **held,
            },
        )
