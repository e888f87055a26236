"""What every driver shares: measurements, read errors, and the ``Bus`` a poller drives.

A driver module holds one protocol: its settings model, a ``Bus`` class that owns one serial
port (and every device on it), and the pure functions that turn bytes into values. Drivers know
nothing of MQTT, the outbox or clocks beyond reading a timestamp.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

# Returns (wall-clock epoch ms, monotonic ns), read together when a reply arrives.
Stamp = Callable[[], tuple[int, int]]


@dataclass(frozen=True, slots=True)
class Measurement:
    """One converted value from one device, with the clock readings taken when it was read.

    ``wall_ms`` is the system clock (epoch ms), which may be wrong on a Pi without RTC before NTP;
    ``mono_ns`` is the monotonic clock of this boot, from which the true time can be rebuilt.
    """

    device_id: str
    quantity: str
    value: float
    wall_ms: int
    mono_ns: int


class DeviceReadError(Exception):
    """A device did not give a usable answer; ``reason`` is a short counter key."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class PortLostError(DeviceReadError):
    """The serial port itself is gone (USB adapter unplugged) or cannot be opened."""

    def __init__(self, message: str, reason: str = "port_lost") -> None:
        super().__init__(reason, message)


@dataclass(frozen=True, slots=True)
class DeviceResult:
    """The outcome of asking one device once: measurements, or the error it gave."""

    device_id: str
    measurements: list[Measurement] = field(default_factory=list)
    error: DeviceReadError | None = None


class Bus(Protocol):
    """One serial port and the devices on it, driven by one poller thread."""

    @property
    def port(self) -> str:
        """The configured path (preferably a /dev/serial/by-id name)."""
        ...

    @property
    def device_ids(self) -> tuple[str, ...]:
        """Our ids of every device on this port."""
        ...

    def open(self) -> None:
        """Open the port; raise PortLostError if it is not there."""
        ...

    def close(self) -> None:
        """Release the port (safe to call twice)."""
        ...

    def poll(self, stamp: Stamp) -> list[DeviceResult]:
        """Ask every device once (or wait for what a talking device sends).

        ``stamp`` gives the clock readings to put on a measurement when its reply arrives.

        Raises PortLostError when the port itself failed; per-device problems are results.
        """
        ...


def system_stamp() -> tuple[int, int]:
    """(wall-clock epoch ms, monotonic ns) of this machine's clocks."""
    return time.time_ns() // 1_000_000, time.monotonic_ns()
