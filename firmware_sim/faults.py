"""Fault switches: armed by a test or the demo, consumed by a device's own thread."""

from __future__ import annotations

import threading

BAD_CRC = "bad_crc"  # the next N Modbus replies carry a corrupted CRC byte
SILENT = "silent"  # the device stops answering / sending until cleared
GARBLE = "garble"  # the next N ASCII lines are corrupted in transit
GARBAGE = "garbage"  # noise bytes go out before the next N frames/lines (which stay intact)
PARTIAL = "partial"  # the next N lines or replies are cut before their end (the next follows)


class FaultSwitch:
    """Pending faults of one device. Thread-safe.

    ``silent`` lasts until :meth:`clear`; other faults hit the next ``count`` frames.
    """

    def __init__(self, supported: frozenset[str]) -> None:
        self._supported = supported
        self._lock = threading.Lock()
        self._pending: dict[str, int] = {}
        self._silent = False

    def arm(self, fault: str, count: int = 1) -> None:
        """Make the device misbehave: ``count`` times, or until cleared for ``silent``."""
        if fault not in self._supported:
            raise ValueError(
                f"unknown fault {fault!r}; this device supports {sorted(self._supported)}"
            )
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        with self._lock:
            if fault == SILENT:
                self._silent = True
            else:
                self._pending[fault] = self._pending.get(fault, 0) + count

    def clear(self) -> None:
        """Forget every pending fault and end silence."""
        with self._lock:
            self._pending.clear()
            self._silent = False

    @property
    def silent(self) -> bool:
        """Whether the device is silenced."""
        return self._silent

    def take(self, fault: str) -> bool:
        """Consume one pending occurrence of ``fault``; False if none is pending."""
        with self._lock:
            left = self._pending.get(fault, 0)
            if not left:
                return False
            self._pending[fault] = left - 1
            return True
