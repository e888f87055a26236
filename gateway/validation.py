"""Quality flags for measurements: kept with the value, never a reason to drop it."""

from __future__ import annotations

from telemetry.quantities import QUANTITIES
from telemetry.reading import Quality


def classify(quantity: str, value: float) -> Quality:
    """BAD outside what the sensor can report, SUSPECT outside what a field plausibly sees."""
    spec = QUANTITIES[quantity]
    if not spec.in_physical_range(value):
        return Quality.BAD
    if not spec.in_plausible_range(value):
        return Quality.SUSPECT
    return Quality.GOOD
