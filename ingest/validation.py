"""What ingest checks itself, whatever the gateway said: the physical limits of each quantity.

A gateway classifies its readings, but a gateway can run old firmware, be misconfigured or be
hostile; a soil moisture of 150 % is impossible whoever says it is good. Such a reading is kept
(its sequence number stays accounted for, and a technician can see the sensor misbehave) but
stored as bad, so that no chart, rollup or rule uses it as a real value.
"""

from __future__ import annotations

from dataclasses import replace

from telemetry.quantities import QUANTITIES
from telemetry.reading import Quality, Reading


def enforce_physical_limits(readings: list[Reading]) -> tuple[list[Reading], int]:
    """The readings with every physically impossible value marked bad; how many were changed."""
    changed = 0
    out = readings
    for index, reading in enumerate(readings):
        if reading.quality is Quality.BAD:
            continue
        if not QUANTITIES[reading.quantity].in_physical_range(reading.value):
            if out is readings:
                out = list(readings)
            out[index] = replace(reading, quality=Quality.BAD)
            changed += 1
    return out, changed
