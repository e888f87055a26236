"""The numbers of a chaos run: the full run the scenarios are defined by, and a short one for CI.

The full numbers are the scenarios' own (20 gateway kills, 10 ingest kills, 10 minutes without
InfluxDB or Mosquitto); the short run scales counts and durations down so the whole selection
takes a few minutes. Both are reported with the results.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any


@dataclass(frozen=True, slots=True)
class Params:
    """What a run uses; every scenario reads the fields it needs."""

    mode: str
    # The site: gateways, each with one 7-in-1 soil probe and one weather station on ptys,
    # polled and published every half second where a field gateway does it once a minute: the
    # chaos site runs ``time_scale`` times faster, and so do the settings paced by that minute
    # (ack timeouts, ingest's ack gathering, reconnect bounds, health reports; see ``members``).
    gateways: int
    poll_interval_s: float
    publish_interval_s: float
    time_scale: float
    # Before a fault: every gateway has readings stored. After it: how long recovery may take,
    # and after how long without progress (with every outbox empty) it is given up early.
    warmup_timeout_s: float
    recovery_deadline_s: float
    stall_s: float
    # Kill scenarios: how many kills, and the random gap before each (seconds).
    gateway_kills: int
    ingest_kills: int
    # ingest_worker_dies: how long readings keep coming after one of two workers died.
    dead_worker_s: float
    kill_gap_s: tuple[float, float]
    # Outages.
    influx_down_s: float
    broker_down_s: float
    # broker_kill_influx_down: InfluxDB down this long before the broker is killed, the broker
    # down this long, and InfluxDB down this long again after the broker is back.
    influx_before_broker_kill_s: float
    broker_killed_s: float
    influx_after_broker_s: float
    disk_full_s: float
    clock_fault_s: float
    clock_jumps: int
    poison_rounds: int
    poison_good_within_s: float
    fuzz_inputs_per_parser: int
    jobs: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


FULL = Params(
    mode="full",
    gateways=3,
    poll_interval_s=0.5,
    publish_interval_s=0.5,
    time_scale=120.0,
    warmup_timeout_s=60.0,
    recovery_deadline_s=240.0,
    stall_s=60.0,
    gateway_kills=20,
    ingest_kills=10,
    dead_worker_s=30.0,
    kill_gap_s=(1.0, 6.0),
    influx_down_s=600.0,
    broker_down_s=600.0,
    influx_before_broker_kill_s=30.0,
    broker_killed_s=5.0,
    influx_after_broker_s=10.0,
    disk_full_s=60.0,
    clock_fault_s=40.0,
    clock_jumps=8,
    poison_rounds=2,
    poison_good_within_s=5.0,
    fuzz_inputs_per_parser=100_000,
    jobs=2,
)

SHORT = replace(
    FULL,
    mode="short",
    gateways=2,
    warmup_timeout_s=45.0,
    recovery_deadline_s=45.0,
    stall_s=15.0,
    gateway_kills=4,
    ingest_kills=3,
    dead_worker_s=5.0,
    kill_gap_s=(0.5, 2.5),
    influx_down_s=20.0,
    broker_down_s=20.0,
    influx_before_broker_kill_s=5.0,
    broker_killed_s=2.0,
    influx_after_broker_s=3.0,
    disk_full_s=8.0,
    clock_fault_s=8.0,
    clock_jumps=3,
    poison_rounds=1,
    fuzz_inputs_per_parser=2_000,
)
