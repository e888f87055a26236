"""Scenarios where a gateway's wall clock is wrong: behind, years off, or jumping.

One gateway of the site runs on a machine whose clock the scenario sets (``clock_gateway``:
what ``tani gateway`` runs, its own ``SystemClock`` given a scripted wall clock and NTP state);
the others keep this machine's.
How wrong times end up is reported per gateway: ``stored_untrusted_time`` (points in the
untrusted-time measurement) and ``stored_trusted_time_outside_run`` (points stored as trusted
with a time outside the run: a wrong time nobody flagged).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from tani.chaos.accounting import outbox_state
from tani.chaos.context import Context
from tani.chaos.members import GatewayProc
from tani.chaos.world import World

DAY_MS = 86_400_000
# Where a Pi without a real-time clock may wake up: an old fake-hwclock file, say.
YEAR_2019 = datetime(2019, 6, 1, 6, 0, tzinfo=UTC)
# Steps an NTP daemon or an operator might make, from seconds to a day, either way.
JUMPS_MS = (-DAY_MS, -3_600_000, -600_000, -30_000, 30_000, 600_000, 3_600_000, DAY_MS)


def _clock_events(gateway: GatewayProc) -> dict[str, int]:
    """The gateway's log events about its clock, by text, with how often each came."""
    counts: dict[str, int] = {}
    if not gateway.log_path.exists():
        return counts
    for line in gateway.log_path.read_text(errors="replace").splitlines():
        try:
            event = str(json.loads(line).get("event", ""))
        except ValueError:
            continue
        if "clock" in event or "boot" in event:
            counts[event[:100]] = counts.get(event[:100], 0) + 1
    return counts


def clock_behind(ctx: Context) -> dict[str, Any]:
    """After a power cut the clock comes back 2 days behind (fake-hwclock), yet past the
    configured floor, with no NTP; later NTP arrives."""
    p = ctx.params
    with World(ctx) as world:
        # A gateway that believes its clock past the floor (trust_after_floor, for an RTC).
        gateway = world.script_clock(0, offset_ms=0, ntp=False, trust_after_floor=True)
        world.start_gateways()
        world.warm_up()
        gateway.set_clock(2 * DAY_MS, ntp=False)
        gateway.reboot()
        ctx.say(f"{gateway.id}: power cut; back 2 days behind (past its floor), no NTP")
        ctx.sleep(p.clock_fault_s)
        held = outbox_state(gateway.outbox_path).waiting_for_clock
        gateway.set_clock(0, ntp=True)
        ctx.say(f"{gateway.id}: NTP synchronised, the clock steps 2 days forward")
        return world.finish(
            time.monotonic(),
            {
                "how": "gateway on a scripted machine clock (tani.chaos.clock_gateway: the "
                "gateway's own SystemClock given a scripted wall clock and NTP state, and a boot "
                "id), [clock] trust_after_floor = true; after warm-up kill -9 and a new boot with "
                "the wall clock 2 days behind (past the 2026-11-01 floor), no NTP; after the "
                "fault NTP synchronised and the clock right",
                "gateway": gateway.id,
                "offset_days": 2,
                "fault_s": p.clock_fault_s,
                "waiting_for_clock_at_ntp": held,
                "clock_log": _clock_events(gateway),
            },
        )


def clock_2019(ctx: Context) -> dict[str, Any]:
    """A Pi that wakes up in 2019, reboots once before NTP, and is then synchronised."""
    p = ctx.params
    with World(ctx) as world:
        offset = time.time_ns() // 1_000_000 - int(YEAR_2019.timestamp() * 1000)
        gateway = world.script_clock(0, offset_ms=offset, ntp=False)
        world.start_gateways()
        world.warm_up(skip=(0,))
        ctx.say(f"{gateway.id}: clock says 2019, no NTP")
        ctx.sleep(p.clock_fault_s / 2)
        held_before_reboot = outbox_state(gateway.outbox_path).waiting_for_clock
        gateway.reboot()
        ctx.say(f"{gateway.id}: power cut and reboot (new boot id), still in 2019")
        ctx.sleep(p.clock_fault_s / 2)
        held_at_sync = outbox_state(gateway.outbox_path).waiting_for_clock
        gateway.set_clock(0, ntp=True)
        ctx.say(f"{gateway.id}: NTP synchronised")
        return world.finish(
            time.monotonic(),
            {
                "how": "gateway on a scripted machine clock (see clock_behind) starting at "
                f"{YEAR_2019.isoformat()}, no NTP, default [clock]; kill -9 and a new boot "
                "id half-way, still in 2019; after the fault NTP synchronised",
                "gateway": gateway.id,
                "fault_s": p.clock_fault_s,
                "waiting_for_clock_before_reboot": held_before_reboot,
                "waiting_for_clock_at_ntp": held_at_sync,
                "clock_log": _clock_events(gateway),
            },
        )


def clock_jump(ctx: Context) -> dict[str, Any]:
    """An NTP-synchronised clock that steps back and forth by seconds to a day."""
    p, rng = ctx.params, ctx.rng
    with World(ctx) as world:
        gateway = world.script_clock(0, offset_ms=0, ntp=True)
        world.start_gateways()
        world.warm_up()
        jumps = []
        for _ in range(p.clock_jumps):
            ctx.sleep(rng.uniform(0.5, 1.5) * p.clock_fault_s / p.clock_jumps)
            offset = -rng.choice(JUMPS_MS)  # offset is how far the clock is *behind*
            gateway.set_clock(offset, ntp=True)
            jumps.append(-offset // 1000)
            ctx.say(f"{gateway.id}: clock now {-offset / 1000:+.0f} s off")
        gateway.set_clock(0, ntp=True)
        return world.finish(
            time.monotonic(),
            {
                "how": "gateway on a scripted machine clock (see clock_behind), NTP "
                "synchronised throughout, set to random offsets from the true time at random "
                "moments, then back to it",
                "gateway": gateway.id,
                "clock_offsets_s": jumps,
                "clock_log": _clock_events(gateway),
            },
        )
