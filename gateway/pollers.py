"""One thread per serial port: the single owner of that port, as RS485 needs.

A poller asks its bus at a fixed rate, hands measurements to a queue and keeps each device's
health. When the port itself disappears (USB adapter unplugged) it closes it and keeps trying to
open the configured path again, so an adapter that returns, even behind another /dev/ttyUSBn
(the /dev/serial/by-id name stays the same), is read again without restarting the gateway.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from gateway.drivers.base import (
    Bus,
    DeviceReadError,
    DeviceResult,
    Measurement,
    PortLostError,
    Stamp,
)

log = logging.getLogger(__name__)

REOPEN_MIN_S = 1.0
REOPEN_MAX_S = 30.0
# A device is reported offline after this many failed polls in a row.
OFFLINE_AFTER_FAILURES = 3


@dataclass(slots=True)
class _Device:
    errors: Counter[str] = field(default_factory=Counter)
    failures_in_a_row: int = 0
    last_ok_ms: int | None = None


@dataclass(frozen=True, slots=True)
class DeviceState:
    """What the gateway reports about one device."""

    online: bool
    failures_in_a_row: int
    last_ok_ms: int | None
    errors: dict[str, int]


class DeviceHealth:
    """Per-device outcome counters shared by all pollers, safe across threads.

    The first failure of a run of failures is logged as a warning, repeats only at debug level,
    and recovery at info: a device that is down does not flood the log.
    """

    def __init__(self, gateway_id: str) -> None:
        self.gateway_id = gateway_id
        self._lock = threading.Lock()
        self._devices: dict[str, _Device] = {}

    def register(self, device_id: str) -> None:
        """Make a device known before its first poll, so health lists it from the start."""
        with self._lock:
            self._devices.setdefault(device_id, _Device())

    def failed(self, device_id: str, error: DeviceReadError) -> None:
        """Count a failure."""
        with self._lock:
            device = self._devices.setdefault(device_id, _Device())
            device.errors[error.reason] += 1
            device.failures_in_a_row += 1
            first = device.failures_in_a_row == 1
        extra = {"gateway_id": self.gateway_id, "device_id": device_id, "reason": error.reason}
        log.log(
            logging.WARNING if first else logging.DEBUG,
            f"device read failed: {error}",
            extra=extra,
        )

    def succeeded(self, device_id: str, wall_ms: int) -> None:
        """Note a good read; log recovery after failures."""
        with self._lock:
            device = self._devices.setdefault(device_id, _Device())
            recovered = device.failures_in_a_row > 0
            device.failures_in_a_row = 0
            device.last_ok_ms = wall_ms
        if recovered:
            log.info(
                "device answers again",
                extra={"gateway_id": self.gateway_id, "device_id": device_id},
            )

    def snapshot(self) -> dict[str, DeviceState]:
        """The state of every device."""
        with self._lock:
            return {
                device_id: DeviceState(
                    online=d.last_ok_ms is not None
                    and d.failures_in_a_row < OFFLINE_AFTER_FAILURES,
                    failures_in_a_row=d.failures_in_a_row,
                    last_ok_ms=d.last_ok_ms,
                    errors=dict(d.errors),
                )
                for device_id, d in self._devices.items()
            }


class Poller(threading.Thread):
    """Owns one bus: opens it, polls it every ``interval_s``, reopens it when it vanishes."""

    def __init__(
        self,
        bus: Bus,
        interval_s: float,
        stamp: Stamp,
        out: queue.SimpleQueue[list[Measurement]],
        health: DeviceHealth,
        *,
        reopen_min_s: float = REOPEN_MIN_S,
        reopen_max_s: float = REOPEN_MAX_S,
    ) -> None:
        super().__init__(name=f"poller {bus.port}", daemon=True)
        self.bus = bus
        self.stopping = threading.Event()
        self._reopen_min_s = reopen_min_s
        self._reopen_max_s = reopen_max_s
        self._interval_s = interval_s
        self._stamp = stamp
        self._out = out
        self._health = health
        for device_id in bus.device_ids:
            health.register(device_id)

    def stop(self) -> None:
        """Ask the thread to finish its current poll and release the port."""
        self.stopping.set()

    def run(self) -> None:
        """Open, poll until the port is lost, reopen; until stopped."""
        delay = self._reopen_min_s
        while not self.stopping.is_set():
            try:
                self.bus.open()
            except PortLostError as exc:
                self._port_failed(exc)
                self.stopping.wait(delay)
                delay = min(delay * 2, self._reopen_max_s)
                continue
            delay = self._reopen_min_s
            log.info(
                "serial port open",
                extra={"gateway_id": self._health.gateway_id, "port": self.bus.port},
            )
            try:
                self._poll_until_lost()
            finally:
                self.bus.close()

    def _poll_until_lost(self) -> None:
        next_poll = time.monotonic()
        while not self.stopping.is_set():
            try:
                results = self.bus.poll(self._stamp)
            except PortLostError as exc:
                self._port_failed(exc)
                return
            for result in results:
                self._record(result)
            # Fixed rate: the time spent polling counts towards the interval.
            next_poll = max(next_poll + self._interval_s, time.monotonic())
            self.stopping.wait(next_poll - time.monotonic())

    def _record(self, result: DeviceResult) -> None:
        if result.error is not None:
            self._health.failed(result.device_id, result.error)
        elif result.measurements:
            self._out.put(result.measurements)
            self._health.succeeded(result.device_id, result.measurements[0].wall_ms)

    def _port_failed(self, error: PortLostError) -> None:
        for device_id in self.bus.device_ids:
            self._health.failed(device_id, error)
