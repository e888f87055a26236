"""Knowing when the wall clock can be trusted, on a Raspberry Pi without a real-time clock.

A Pi boots with the time it saved at shutdown (fake-hwclock) or 1970, and only learns the real
time when NTP reaches a server, perhaps days later. Until then a reading keeps the monotonic
clock of its boot; once the wall clock is trusted, the outbox turns that into real time
(``wall_now - (mono_now - mono_then)``). Readings of an earlier boot that never saw a trusted
clock cannot be placed in time: they keep their wall-clock guess and are flagged.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol

log = logging.getLogger(__name__)

# No release of this gateway ran before this date, so a clock that says earlier is surely wrong.
BUILD_FLOOR_MS = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp() * 1000)
_TIME_ERROR = 5  # adjtimex(2): the kernel's clock is not synchronised
_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")

ClockSource = Literal["ntp", "floor", "none"]


@dataclass(frozen=True, slots=True)
class ClockState:
    """Whether the wall clock is trusted, and why."""

    trusted: bool
    source: ClockSource


class Clock(Protocol):
    """The gateway's view of time; tests substitute a clock that jumps."""

    boot_id: str

    def stamp(self) -> tuple[int, int]:
        """(wall-clock epoch ms, monotonic ns), read together."""
        ...

    def state(self) -> ClockState:
        """Whether the wall clock can be trusted right now."""
        ...


def _kernel_synchronised() -> bool | None:
    """What adjtimex says about NTP synchronisation; None where it cannot be asked."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        # struct timex is under 256 bytes on every Linux ABI; modes=0 only reads.
        buffer = ctypes.create_string_buffer(512)
        return libc.adjtimex(buffer) != _TIME_ERROR
    except (OSError, AttributeError):
        return None


def read_boot_id() -> str:
    """This boot's id from the kernel (a new one after every reboot)."""
    try:
        return _BOOT_ID.read_text().strip()
    except OSError:
        # Not Linux: a random id still tells this run from the previous one.
        return f"run-{time.time_ns()}"


class SystemClock:
    """The machine's clocks; trusted once NTP synchronised or past the build floor."""

    def __init__(self, floor_ms: int = BUILD_FLOOR_MS, trust_after_floor: bool = True) -> None:
        self.boot_id = read_boot_id()
        self._floor_ms = floor_ms
        self._trust_after_floor = trust_after_floor

    def stamp(self) -> tuple[int, int]:
        """(wall-clock epoch ms, monotonic ns)."""
        return time.time_ns() // 1_000_000, time.monotonic_ns()

    def state(self) -> ClockState:
        """NTP first; a clock past the build floor is believed too (it cannot be 1970)."""
        if _kernel_synchronised():
            return ClockState(True, "ntp")
        if self._trust_after_floor and time.time_ns() // 1_000_000 >= self._floor_ms:
            return ClockState(True, "floor")
        return ClockState(False, "none")


def rebased_time_ms(wall_now_ms: int, mono_now_ns: int, mono_then_ns: int) -> int:
    """The true time of a monotonic reading, given a trusted wall clock now."""
    return wall_now_ms - (mono_now_ns - mono_then_ns) // 1_000_000
