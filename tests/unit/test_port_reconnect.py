"""A USB serial adapter that vanishes and returns behind the same /dev/serial/by-id name.

Real pollers drive a real ModbusSoilBus and AsciiWeatherStation on the emulated site's
symlinked ports. The adapters are unplugged (their ptys close, the symlinks go), the devices
must be reported failing with a port reason, then the adapters come back on new ptys behind the
same symlinks and measurements must flow again, with the values the emulators served.
"""

from __future__ import annotations

import os
import queue
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from firmware_sim import quantities as q
from firmware_sim.history import Served
from firmware_sim.site import SimulatedSite, SiteConfig
from gateway.drivers.ascii_weather import AsciiWeatherStation
from gateway.drivers.base import Measurement, system_stamp
from gateway.drivers.modbus_soil import ModbusSoilBus, SoilProbe
from gateway.drivers.register_map import JXCT, SEVEN_IN_ONE
from gateway.pollers import OFFLINE_AFTER_FAILURES, DeviceHealth, Poller

PORT_REASONS = {"port_lost", "port_unavailable"}
DEVICES = ("soil-1", "soil-2", "weather-1")
UNITS = {"soil-1": 1, "soil-2": 2}


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, what: str = "it") -> Any:
    """Poll ``condition`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)
    return result


class Readings:
    """Measurements the pollers put out, grouped by device, read as they come."""

    def __init__(self, out: queue.SimpleQueue[list[Measurement]]) -> None:
        self._out = out
        self.batches: list[list[Measurement]] = []

    def drain(self) -> list[list[Measurement]]:
        while True:
            try:
                self.batches.append(self._out.get_nowait())
            except queue.Empty:
                return self.batches

    def since(self, wall_ms: int) -> dict[str, list[dict[str, float]]]:
        by_device: dict[str, list[dict[str, float]]] = {}
        for batch in self.drain():
            if batch[0].wall_ms >= wall_ms:
                values = {m.quantity: m.value for m in batch}
                by_device.setdefault(batch[0].device_id, []).append(values)
        return by_device


@pytest.fixture
def site(tmp_path: Path) -> Iterator[SimulatedSite]:
    config = SiteConfig(
        seed=21,
        soil_device_ids=(1, 2),
        soil_maps={2: "jxct"},
        weather_interval_s=0.2,
        soil_symlink=str(tmp_path / "serial" / "by-id" / "usb-FTDI_soil-if00-port0"),
        weather_symlink=str(tmp_path / "serial" / "by-id" / "usb-Prolific_weather-if00-port0"),
    )
    with SimulatedSite(config) as running:
        yield running


@pytest.fixture
def pollers(site: SimulatedSite) -> Iterator[tuple[Readings, DeviceHealth]]:
    soil = ModbusSoilBus(
        site.ports["soil"],
        [SoilProbe("soil-1", 1, SEVEN_IN_ONE), SoilProbe("soil-2", 2, JXCT)],
        baudrate=4800,
        timeout_s=0.3,
    )
    weather = AsciiWeatherStation(
        "weather-1", site.ports["weather"], baudrate=4800, read_timeout_s=0.2
    )
    out: queue.SimpleQueue[list[Measurement]] = queue.SimpleQueue()
    health = DeviceHealth("gw-uji")
    threads = [
        Poller(bus, interval, system_stamp, out, health, reopen_min_s=0.05, reopen_max_s=0.2)
        for bus, interval in ((soil, 0.1), (weather, 0.0))
    ]
    for thread in threads:
        thread.start()
    try:
        yield Readings(out), health
    finally:
        for thread in threads:
            thread.stop()
        for thread in threads:
            thread.join(timeout=5)
            assert not thread.is_alive()


def _served(site: SimulatedSite, device_id: str) -> list[Served]:
    if device_id == "weather-1":
        return site.weather_history()
    return site.soil_history(device_id=UNITS[device_id])


def _was_served(history: list[Served], values: dict[str, float]) -> bool:
    measured = {k: v for k, v in values.items() if k != q.RAIN}
    return any(
        all(s.values.get(k) == pytest.approx(v, abs=1e-9) for k, v in measured.items())
        for s in history
    )


def test_devices_fail_while_unplugged_and_read_again_on_a_new_pty(
    site: SimulatedSite, pollers: tuple[Readings, DeviceHealth]
) -> None:
    readings, health = pollers
    links = {name: Path(path) for name, path in site.ports.items()}
    old_targets = {name: os.readlink(link) for name, link in links.items()}
    wait_for(lambda: set(readings.since(0)) == set(DEVICES), what="first readings")

    for name in links:
        site.unplug(name)
    assert not any(link.exists() or link.is_symlink() for link in links.values())

    def all_failing() -> bool:
        states = health.snapshot()
        return all(
            states[d].failures_in_a_row >= OFFLINE_AFTER_FAILURES
            and PORT_REASONS & set(states[d].errors)
            for d in DEVICES
        )

    wait_for(all_failing, what="every device reported failing with a port reason")
    errors = {d: s.errors for d, s in health.snapshot().items()}
    assert all(set(e) <= PORT_REASONS for e in errors.values()), errors
    assert all(not health.snapshot()[d].online for d in DEVICES)

    replugged_ms = time.time_ns() // 1_000_000
    for name in links:
        site.replug(name)
    for name, link in links.items():
        assert os.readlink(link) != old_targets[name]  # another /dev/pts/N, same stable name
        assert site.ports[name] == str(link)

    def read_again() -> dict[str, list[dict[str, float]]] | None:
        after = readings.since(replugged_ms)
        return after if all(len(after.get(d, [])) >= 2 for d in DEVICES) else None

    after = wait_for(read_again, what="readings after the adapters came back")
    for device_id in DEVICES:
        history = _served(site, device_id)
        for values in after[device_id]:
            assert _was_served(history, values), f"{device_id} read {values}, never served"
    states = health.snapshot()
    assert all(states[d].online and states[d].failures_in_a_row == 0 for d in DEVICES)
