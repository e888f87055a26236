"""One thread per serial port: the single owner of that port, as RS485 needs.

A poller hands measurements to a queue and counts failures per device and reason. The first
failure of a device is logged as a warning, repeats only at debug level, recovery at info.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable

from gateway.drivers.ascii_weather import AsciiWeatherStation
from gateway.drivers.measurement import DeviceReadError, Measurement
from gateway.drivers.modbus_soil import ModbusSoilBus

log = logging.getLogger(__name__)

REOPEN_DELAY_S = 5.0


class DeviceErrors:
    """Failure counters per (device, reason), shared by the pollers, safe across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()
        self._failing: set[str] = set()

    def failed(self, gateway_id: str, device_id: str, error: DeviceReadError) -> None:
        """Count a failure; warn loudly only for the first of a run."""
        with self._lock:
            self._counts[(device_id, error.reason)] += 1
            first = device_id not in self._failing
            self._failing.add(device_id)
        extra = {"gateway_id": gateway_id, "device_id": device_id, "reason": error.reason}
        if first:
            log.warning(f"device read failed: {error}", extra=extra)
        else:
            log.debug(f"device read failed again: {error}", extra=extra)

    def succeeded(self, gateway_id: str, device_id: str) -> None:
        """Note a good read; log recovery after failures."""
        with self._lock:
            recovered = device_id in self._failing
            self._failing.discard(device_id)
        if recovered:
            log.info(
                "device answers again", extra={"gateway_id": gateway_id, "device_id": device_id}
            )

    def snapshot(self) -> dict[str, dict[str, int]]:
        """{device_id: {reason: count}}."""
        with self._lock:
            result: dict[str, dict[str, int]] = {}
            for (device, reason), count in self._counts.items():
                result.setdefault(device, {})[reason] = count
            return result


class Poller(threading.Thread):
    """A thread that owns one serial port until stopped."""

    def __init__(
        self,
        name: str,
        gateway_id: str,
        out: queue.SimpleQueue[list[Measurement]],
        errors: DeviceErrors,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.gateway_id = gateway_id
        self.stopping = threading.Event()
        self._out = out
        self._errors = errors

    def stop(self) -> None:
        """Ask the thread to finish its current read and release the port."""
        self.stopping.set()

    def _open_until_ready(self, open_port: Callable[[], None], device_id: str) -> bool:
        """Open the port, retrying while it is missing (USB adapter unplugged)."""
        while not self.stopping.is_set():
            try:
                open_port()
                return True
            except DeviceReadError as exc:
                self._errors.failed(self.gateway_id, device_id, exc)
                self.stopping.wait(REOPEN_DELAY_S)
        return False


class ModbusPoller(Poller):
    """Reads every probe of one bus every ``interval_s`` seconds."""

    def __init__(
        self,
        bus: ModbusSoilBus,
        interval_s: float,
        gateway_id: str,
        out: queue.SimpleQueue[list[Measurement]],
        errors: DeviceErrors,
    ) -> None:
        super().__init__(f"modbus {bus.port}", gateway_id, out, errors)
        self._bus = bus
        self._interval_s = interval_s

    def run(self) -> None:
        if not self._open_until_ready(self._bus.open, self._bus.probes[0].device_id):
            return
        try:
            while not self.stopping.is_set():
                for probe in self._bus.probes:
                    try:
                        self._out.put(self._bus.read(probe))
                        self._errors.succeeded(self.gateway_id, probe.device_id)
                    except DeviceReadError as exc:
                        self._errors.failed(self.gateway_id, probe.device_id, exc)
                self.stopping.wait(self._interval_s)
        finally:
            self._bus.close()


class WeatherPoller(Poller):
    """Turns every line a station sends into measurements."""

    def __init__(
        self,
        station: AsciiWeatherStation,
        gateway_id: str,
        out: queue.SimpleQueue[list[Measurement]],
        errors: DeviceErrors,
    ) -> None:
        super().__init__(f"weather {station.port}", gateway_id, out, errors)
        self._station = station

    def run(self) -> None:
        device_id = self._station.device_id
        if not self._open_until_ready(self._station.open, device_id):
            return
        try:
            while not self.stopping.is_set():
                try:
                    measurements = self._station.read()
                except DeviceReadError as exc:
                    self._errors.failed(self.gateway_id, device_id, exc)
                    if exc.reason == "port_lost":
                        self._station.close()
                        if not self._open_until_ready(self._station.open, device_id):
                            return
                    continue
                if measurements:
                    self._out.put(measurements)
                    self._errors.succeeded(self.gateway_id, device_id)
        finally:
            self._station.close()
