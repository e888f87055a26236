"""ModbusSoilBus against the emulated probes on a pty: values, faults, noise, a lost port."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware_sim.history import Served
from firmware_sim.site import SimulatedSite, SiteConfig
from gateway.drivers.base import DeviceResult, PortLostError, system_stamp
from gateway.drivers.modbus_soil import ModbusSoilBus, SoilProbe
from gateway.drivers.register_map import JXCT, SEVEN_IN_ONE, RegisterField, RegisterMap

TIMEOUT_S = 0.3
PROBES = (SoilProbe("soil-1", 1, SEVEN_IN_ONE), SoilProbe("soil-2", 2, JXCT))


@pytest.fixture
def site(tmp_path: Path) -> Iterator[SimulatedSite]:
    config = SiteConfig(
        seed=11,
        soil_device_ids=(1, 2),
        soil_maps={2: "jxct"},
        weather_interval_s=60.0,
        soil_symlink=str(tmp_path / "by-id" / "usb-soil"),
    )
    with SimulatedSite(config) as running:
        yield running


@pytest.fixture
def bus(site: SimulatedSite) -> Iterator[ModbusSoilBus]:
    soil = ModbusSoilBus(site.ports["soil"], PROBES, baudrate=4800, timeout_s=TIMEOUT_S)
    soil.open()
    yield soil
    soil.close()


def _values(result: DeviceResult) -> dict[str, float]:
    assert result.error is None, result.error
    return {m.quantity: m.value for m in result.measurements}


def _last_served(site: SimulatedSite, unit: int) -> Served:
    return site.soil_history(device_id=unit)[-1]


def test_both_maps_read_what_the_probes_served(site: SimulatedSite, bus: ModbusSoilBus) -> None:
    before_ms = time.time_ns() // 1_000_000
    one, two = bus.poll(system_stamp)
    assert (one.device_id, two.device_id) == ("soil-1", "soil-2")
    assert _values(one) == _last_served(site, 1).values
    assert _values(two) == pytest.approx(_last_served(site, 2).values, abs=1e-9)
    assert len(site.soil_history(device_id=2)) == 1  # the JXCT map took one transaction
    assert all(before_ms <= m.wall_ms <= time.time_ns() // 1_000_000 for m in one.measurements)


def test_custom_map_reads_a_subset(site: SimulatedSite) -> None:
    custom = RegisterMap(
        "custom:soil-9",
        (
            RegisterField(0x0001, "soil_temperature", 0.1, signed=True),
            RegisterField(0x0003, "soil_ph", 0.1),
        ),
    )
    soil = ModbusSoilBus(site.ports["soil"], [SoilProbe("soil-9", 1, custom)], timeout_s=TIMEOUT_S)
    soil.open()
    try:
        [result] = soil.poll(system_stamp)
    finally:
        soil.close()
    served = _last_served(site, 1).values  # registers 1..3 were read in one go
    assert set(served) == {"soil_temperature", "soil_ec", "soil_ph"}
    assert _values(result) == {k: served[k] for k in ("soil_temperature", "soil_ph")}


def test_bad_crc_is_counted_then_the_next_poll_reads(
    site: SimulatedSite, bus: ModbusSoilBus
) -> None:
    site.inject("soil", "bad_crc", device_id=1)
    one, two = bus.poll(system_stamp)
    assert one.error is not None and one.error.reason == "bad_crc"
    assert _values(two) == pytest.approx(_last_served(site, 2).values)
    again, _ = bus.poll(system_stamp)
    assert _values(again) == _last_served(site, 1).values


def test_reply_cut_short_is_refused_then_the_next_poll_reads(
    site: SimulatedSite, bus: ModbusSoilBus
) -> None:
    site.inject("soil", "partial", device_id=1)
    one, two = bus.poll(system_stamp)
    assert one.error is not None and one.error.reason == "bad_reply"
    assert _values(two) == pytest.approx(_last_served(site, 2).values)
    again, _ = bus.poll(system_stamp)
    assert _values(again) == _last_served(site, 1).values


def test_silent_probe_times_out_and_the_other_still_answers(
    site: SimulatedSite, bus: ModbusSoilBus
) -> None:
    site.inject("soil", "silent", device_id=2)
    started = time.monotonic()
    one, two = bus.poll(system_stamp)
    assert time.monotonic() - started >= TIMEOUT_S * 0.9
    assert _values(one) == _last_served(site, 1).values
    assert two.error is not None and two.error.reason == "no_reply"
    site.clear("soil")
    _, two = bus.poll(system_stamp)
    assert _values(two) == pytest.approx(_last_served(site, 2).values)


def test_noise_before_a_reply_is_skipped(site: SimulatedSite, bus: ModbusSoilBus) -> None:
    for _ in range(3):
        site.inject("soil", "garbage", count=2)  # before both probes' replies
        one, two = bus.poll(system_stamp)
        assert _values(one) == _last_served(site, 1).values
        assert _values(two) == pytest.approx(_last_served(site, 2).values)


def test_reading_past_what_a_probe_serves_is_an_exception_reply(site: SimulatedSite) -> None:
    beyond = RegisterMap("custom:x", (RegisterField(0x0030, "soil_ph", 0.01),))
    soil = ModbusSoilBus(site.ports["soil"], [SoilProbe("soil-x", 2, beyond)], timeout_s=TIMEOUT_S)
    soil.open()
    try:
        [result] = soil.poll(system_stamp)
    finally:
        soil.close()
    assert result.error is not None and result.error.reason == "exception_reply"


def test_unplugged_adapter_is_a_lost_port(site: SimulatedSite, bus: ModbusSoilBus) -> None:
    bus.poll(system_stamp)
    site.unplug("soil")
    with pytest.raises(PortLostError) as info:
        bus.poll(system_stamp)
    assert info.value.reason == "port_lost"
    bus.close()
    with pytest.raises(PortLostError) as info:
        bus.open()
    assert info.value.reason == "port_unavailable"
    site.replug("soil")
    bus.open()
    one, _ = bus.poll(system_stamp)
    assert _values(one) == _last_served(site, 1).values
