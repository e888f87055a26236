"""The emulated soil probe bus, read by a real pymodbus RTU client through a pty."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator

import pytest
import serial
from hypothesis import given
from hypothesis import strategies as st
from pymodbus.client import ModbusSerialClient
from pymodbus.exceptions import ModbusIOException
from pymodbus.framer import FramerType
from pymodbus.framer.rtu import FramerRTU

from firmware_sim import quantities as q
from firmware_sim.site import SimulatedSite, SiteConfig
from firmware_sim.soil_maps import PROBE_MAPS, ProbeRegister

TIMEOUT_S = 0.5
REGISTER_MAP = PROBE_MAPS["seven_in_one"].registers


@pytest.fixture
def site() -> Iterator[SimulatedSite]:
    # Deprecated pymodbus datastore classes would warn here: make that fail the test.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        config = SiteConfig(seed=3, soil_device_ids=(1, 2), weather_interval_s=60.0)
        with SimulatedSite(config) as running:
            yield running


@pytest.fixture
def client(site: SimulatedSite) -> Iterator[ModbusSerialClient]:
    # retries=0: with pymodbus's default of 3 a single bad reply is hidden by a retry.
    modbus = ModbusSerialClient(
        site.ports["soil"], framer=FramerType.RTU, baudrate=4800, timeout=TIMEOUT_S, retries=0
    )
    assert modbus.connect()
    yield modbus
    modbus.close()


def _decode(registers: list[int]) -> dict[str, float]:
    return {reg.key: reg.decode(raw) for reg, raw in zip(REGISTER_MAP, registers, strict=True)}


def test_registers_decode_to_what_the_history_says_was_served(
    site: SimulatedSite, client: ModbusSerialClient
) -> None:
    before = time.time()
    reply = client.read_holding_registers(0, count=7, device_id=1)
    assert not reply.isError()
    values = _decode(reply.registers)
    [served] = site.soil_history(device_id=1)
    assert served.values == values
    assert before <= served.wall_time <= time.time()
    assert set(values) == {
        q.SOIL_MOISTURE,
        q.SOIL_TEMPERATURE,
        q.SOIL_EC,
        q.SOIL_PH,
        q.SOIL_NITROGEN,
        q.SOIL_PHOSPHORUS,
        q.SOIL_POTASSIUM,
    }
    assert 10 <= values[q.SOIL_MOISTURE] <= 60
    assert 15 <= values[q.SOIL_TEMPERATURE] <= 40
    assert 5.0 <= values[q.SOIL_PH] <= 7.0


def test_partial_read_records_only_the_registers_read(
    site: SimulatedSite, client: ModbusSerialClient
) -> None:
    reply = client.read_holding_registers(2, count=2, device_id=1)
    assert not reply.isError()
    [served] = site.soil_history(device_id=1)
    assert served.values == {
        q.SOIL_EC: float(reply.registers[0]),
        q.SOIL_PH: reply.registers[1] / 10,
    }


def test_two_probes_share_the_bus_and_absent_ids_stay_silent(
    site: SimulatedSite, client: ModbusSerialClient
) -> None:
    one = client.read_holding_registers(0, count=7, device_id=1)
    two = client.read_holding_registers(0, count=7, device_id=2)
    assert one.dev_id == 1 and two.dev_id == 2
    assert one.registers != two.registers  # two spots in the field never read exactly alike
    with pytest.raises(ModbusIOException):
        client.read_holding_registers(0, count=7, device_id=3)
    assert len(site.soil_history(1)) == len(site.soil_history(2)) == 1


def test_bad_crc_fails_one_read_then_the_next_succeeds(
    site: SimulatedSite, client: ModbusSerialClient
) -> None:
    site.inject("soil", "bad_crc", count=1)
    started = time.monotonic()
    with pytest.raises(ModbusIOException):
        client.read_holding_registers(0, count=7, device_id=1)
    # The sync client drops the bad frame and waits out its timeout for a good one.
    assert time.monotonic() - started >= TIMEOUT_S * 0.9
    assert site.soil_history(device_id=1) == []
    reply = client.read_holding_registers(0, count=7, device_id=1)
    assert not reply.isError()
    assert [s.values for s in site.soil_history(device_id=1)] == [_decode(reply.registers)]


def test_silent_probe_does_not_answer_until_cleared(
    site: SimulatedSite, client: ModbusSerialClient
) -> None:
    site.inject("soil", "silent", device_id=2)
    with pytest.raises(ModbusIOException):
        client.read_holding_registers(0, count=7, device_id=2)
    assert not client.read_holding_registers(0, count=7, device_id=1).isError()
    site.clear("soil", device_id=2)
    assert not client.read_holding_registers(0, count=7, device_id=2).isError()


def test_reading_past_the_map_or_writing_is_an_exception_reply(
    site: SimulatedSite, client: ModbusSerialClient
) -> None:
    assert client.read_holding_registers(0, count=8, device_id=1).exception_code == 2
    assert client.write_register(0, 123, device_id=1).exception_code == 2
    assert site.soil_history(device_id=1) == []


def test_unknown_fault_or_device_is_refused(site: SimulatedSite) -> None:
    with pytest.raises(ValueError):
        site.inject("soil", "garble")
    with pytest.raises(KeyError):
        site.inject("soil", "silent", device_id=9)
    with pytest.raises(ValueError):
        site.inject("pump", "silent")


def test_datasheet_example_encodes_as_documented() -> None:
    by_key = {r.key: r for r in REGISTER_MAP}
    assert by_key[q.SOIL_MOISTURE].encode(65.8) == 658
    assert by_key[q.SOIL_TEMPERATURE].encode(-10.1) == 0xFF9B
    assert by_key[q.SOIL_PH].encode(5.6) == 56
    assert by_key[q.SOIL_EC].encode(25000) == 20000  # clamped to the probe's range


@given(st.sampled_from(REGISTER_MAP), st.floats(-1e5, 1e5, allow_nan=False))
def test_encode_decode_round_trips_within_half_a_step(reg: ProbeRegister, value: float) -> None:
    raw = reg.encode(value)
    assert 0 <= raw <= 0xFFFF
    decoded = reg.decode(raw)
    low, high = reg.raw_min / reg.divisor, reg.raw_max / reg.divisor
    assert decoded == pytest.approx(min(high, max(low, value)), abs=0.5 / reg.divisor + 1e-9)


def test_jxct_probe_serves_its_own_map() -> None:
    jxct = PROBE_MAPS["jxct"]
    config = SiteConfig(seed=3, soil_device_ids=(1, 2), soil_maps={2: "jxct"})
    with SimulatedSite(config) as site:
        modbus = ModbusSerialClient(
            site.ports["soil"], framer=FramerType.RTU, baudrate=4800, timeout=TIMEOUT_S, retries=0
        )
        assert modbus.connect()
        try:
            reply = modbus.read_holding_registers(0x06, count=27, device_id=2)
            assert modbus.read_holding_registers(0, count=7, device_id=2).exception_code == 2
            assert not modbus.read_holding_registers(0, count=7, device_id=1).isError()
        finally:
            modbus.close()
        [served] = site.soil_history(device_id=2)
    by_address = dict(zip(range(0x06, 0x06 + 27), reply.registers, strict=True))
    assert served.values == {r.key: r.decode(by_address[r.address]) for r in jxct.registers}
    assert 5.0 <= served.values[q.SOIL_PH] <= 7.0
    assert by_address[0x07] == 0  # an unmapped register inside the span reads 0


def test_garbage_puts_noise_before_an_intact_reply(site: SimulatedSite) -> None:
    request = bytes.fromhex("01 03 00 00 00 07")
    request += FramerRTU.compute_CRC(request).to_bytes(2, "big")
    site.inject("soil", "garbage", device_id=1)
    with serial.Serial(site.ports["soil"], 4800, timeout=TIMEOUT_S) as line:
        line.write(request)
        received = b""
        while chunk := line.read(64):
            received += chunk
    frame_size = 3 + 14 + 2
    noise, frame = received[:-frame_size], received[-frame_size:]
    assert 1 <= len(noise) <= 8
    assert frame[:3] == bytes([1, 3, 14])
    assert FramerRTU.compute_CRC(frame[:-2]) == int.from_bytes(frame[-2:], "big")
    [served] = site.soil_history(device_id=1)  # the reply itself was intact
    registers = [int.from_bytes(frame[3 + 2 * i : 5 + 2 * i], "big") for i in range(7)]
    assert served.values == _decode(registers)
