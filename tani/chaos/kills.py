"""Scenarios that ``kill -9`` our own processes at random moments and restart them at once."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from tani.chaos.context import Context
from tani.chaos.world import World


def gateway_kill(ctx: Context) -> dict[str, Any]:
    """A random gateway process gets ``kill -9`` (a power cut) and is restarted, many times."""
    p, rng = ctx.params, ctx.rng
    with World(ctx) as world:
        world.start_gateways()
        world.warm_up()
        killed: Counter[str] = Counter()
        for n in range(p.gateway_kills):
            ctx.sleep(rng.uniform(*p.kill_gap_s))
            gateway = rng.choice(world.gateways)
            gateway.kill9()
            killed[gateway.id] += 1
            gateway.start()
            ctx.say(f"kill -9 {gateway.id} ({n + 1}/{p.gateway_kills}), restarted")
        return world.finish(
            time.monotonic(),
            {
                "how": "SIGKILL to a randomly chosen `tani gateway` process after a random gap, "
                "then the same command started again at once",
                "kills": dict(killed),
                "gap_s": list(p.kill_gap_s),
            },
        )


def _kill_ingest(ctx: Context, workers: int) -> dict[str, Any]:
    p, rng = ctx.params, ctx.rng
    with World(ctx, ingest_workers=workers) as world:
        world.start_gateways()
        world.warm_up()
        killed: Counter[str] = Counter()
        for n in range(p.ingest_kills):
            ctx.sleep(rng.uniform(*p.kill_gap_s))
            worker = rng.choice(world.ingest)
            worker.kill9()
            killed[worker.name] += 1
            worker.start()
            ctx.say(f"kill -9 {worker.name} ({n + 1}/{p.ingest_kills}), restarted")
        return world.finish(
            time.monotonic(),
            {
                "how": "SIGKILL to a randomly chosen `tani ingest` worker after a random gap, "
                "then the same command (same MQTT client id and persistent session) again",
                "workers": workers,
                "shared_subscription": workers > 1,
                "kills": dict(killed),
                "gap_s": list(p.kill_gap_s),
            },
        )


def ingest_kill_one_worker(ctx: Context) -> dict[str, Any]:
    """The only ingest worker gets ``kill -9`` and is restarted, many times."""
    return _kill_ingest(ctx, workers=1)


def ingest_kill_shared(ctx: Context) -> dict[str, Any]:
    """Two ingest workers share the subscription; one of them gets ``kill -9``, many times."""
    return _kill_ingest(ctx, workers=2)


def ingest_worker_dies(ctx: Context) -> dict[str, Any]:
    """Two ingest workers share the subscription; one gets ``kill -9`` and never returns.

    Mosquitto goes on handing the dead worker's session its share of the messages until the
    session expires (120 s in a shared group, scaled like the gateways' ack timeout); the
    gateways send again what ingest did not confirm, so everything ends up with the survivor.
    Time to recover is bounded by that expiry plus the ack timeout.
    """
    with World(ctx, ingest_workers=2) as world:
        world.start_gateways()
        world.warm_up()
        ctx.sleep(ctx.rng.uniform(*ctx.params.kill_gap_s))
        victim = ctx.rng.choice(world.ingest)
        victim.kill9_for_good()
        ctx.say(f"kill -9 {victim.name}, not restarted")
        ctx.sleep(ctx.params.dead_worker_s)
        return world.finish(
            time.monotonic(),
            {
                "how": "SIGKILL to one of two `tani ingest` workers of a shared group, never "
                "restarted; its persistent session stays at the broker until it expires",
                "killed": victim.name,
                "workers_left": 1,
                "readings_flowing_s": ctx.params.dead_worker_s,
            },
        )
