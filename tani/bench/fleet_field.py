"""The field an emulated gateway of ``tani bench fleet`` stands for, and what it sends.

Issue 14's typical field: one 7-in-1 soil probe and one weather station, polled every 5 minutes,
a batch of their 14 readings sent after each poll, and the gateway's health report, also every
5 minutes (``[publish] health_interval_s``).
"""

from __future__ import annotations

import json
import random
import time

from telemetry.quantities import QUANTITIES
from telemetry.reading import Quality, Reading

SOIL_DEVICE = "soil-1"
WEATHER_DEVICE = "weather-1"
SERIES: tuple[tuple[str, str], ...] = tuple(
    (SOIL_DEVICE if key.startswith("soil_") else WEATHER_DEVICE, key) for key in QUANTITIES
)
READINGS_PER_BATCH = len(SERIES)
FIELD_PUBLISH_S = 300.0
FIELD_HEALTH_S = 300.0


def batch_readings(
    gateway_id: str, first_seq: int, time_ms: int, rng: random.Random
) -> list[Reading]:
    """One poll of both devices: plausible values with one decimal, consecutive sequence numbers."""
    batch = []
    for k, (device_id, key) in enumerate(SERIES):
        quantity = QUANTITIES[key]
        span = quantity.plausible_max - quantity.plausible_min
        value = round(quantity.plausible_min + rng.random() * span, 1)
        batch.append(
            Reading(
                gateway_id,
                device_id,
                key,
                value,
                quantity.unit,
                time_ms,
                Quality.GOOD,
                first_seq + k,
            )
        )
    return batch


def health_report(uptime_s: float, unconfirmed: int, sent: int) -> bytes:
    """A report shaped like ``gateway.service.GatewayService.health_report``'s, devices online."""
    now_ms = time.time_ns() // 1_000_000
    report = {
        "uptime_s": round(uptime_s),
        "outbox_depth": unconfirmed,
        "outbox": {"ok": True, "error": None, "since_ms": None, "failures": 0},
        "waiting_for_clock": 0,
        "readings_sent": sent,
        "readings_thinned": 0,
        "clock": {"trusted": True, "source": "ntp"},
        "devices": {
            device: {"online": True, "last_ok_ms": now_ms, "errors": {}}
            for device in (SOIL_DEVICE, WEATHER_DEVICE)
        },
        "link": None,
        "time_ms": now_ms,
    }
    return json.dumps(report, separators=(",", ":")).encode()
