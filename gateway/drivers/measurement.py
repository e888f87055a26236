"""What every driver hands on: a value of a catalogue quantity, before validation and sequencing."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Measurement:
    """One raw-converted value from one device, stamped when it was read."""

    device_id: str
    quantity: str
    value: float
    time_ms: int


class DeviceReadError(Exception):
    """A device did not give a usable answer; ``reason`` is a short counter key."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def now_ms() -> int:
    """Wall-clock time in epoch milliseconds."""
    return time.time_ns() // 1_000_000
