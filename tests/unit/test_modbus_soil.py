"""Register maps of soil probes, read planning, and finding a reply among noise (no serial)."""

from __future__ import annotations

import itertools
import typing

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymodbus.framer.rtu import FramerRTU

from firmware_sim.soil_maps import PROBE_MAPS
from gateway.config_devices import BuiltinMap
from gateway.drivers.base import DeviceReadError
from gateway.drivers.modbus_soil import inter_frame_gap_s
from gateway.drivers.register_map import (
    BUILTIN_MAPS,
    JXCT,
    SEVEN_IN_ONE,
    ReadBlock,
    RegisterField,
    RegisterMap,
    block_registers,
    plan_reads,
)
from gateway.drivers.rtu_frames import ReplyScan, crc_ok, scan_reply


def test_seven_in_one_datasheet_example() -> None:
    # moisture 65.8 %, temperature -10.1 degC (0xFF9B), EC 1000 uS/cm, pH 5.6, N 32, P 19, K 58
    registers = dict(enumerate([658, 0xFF9B, 1000, 56, 32, 19, 58]))
    assert SEVEN_IN_ONE.decode(registers) == {
        "soil_moisture": 65.8,
        "soil_temperature": -10.1,
        "soil_ec": 1000.0,
        "soil_ph": 5.6,
        "soil_nitrogen": 32.0,
        "soil_phosphorus": 19.0,
        "soil_potassium": 58.0,
    }
    assert SEVEN_IN_ONE.blocks() == (ReadBlock(0, 7),)


def test_jxct_map_reads_its_scattered_registers_in_one_transaction() -> None:
    registers = {0x06: 562, 0x12: 318, 0x13: 0xFFF6, 0x15: 734, 0x1E: 41, 0x1F: 12, 0x20: 87}
    assert JXCT.decode(registers) == {
        "soil_ph": 5.62,
        "soil_moisture": 31.8,
        "soil_temperature": -1.0,
        "soil_ec": 734.0,
        "soil_nitrogen": 41.0,
        "soil_phosphorus": 12.0,
        "soil_potassium": 87.0,
    }
    assert JXCT.blocks() == (ReadBlock(0x06, 27),)


def test_builtin_maps_agree_with_the_emulator_and_the_config_names() -> None:
    assert set(BUILTIN_MAPS) == set(PROBE_MAPS) == set(typing.get_args(BuiltinMap))
    for name, gateway_map in BUILTIN_MAPS.items():
        served = {r.address: r for r in PROBE_MAPS[name].registers}
        assert {f.address for f in gateway_map.fields} == set(served)
        for f in gateway_map.fields:
            reg = served[f.address]
            assert (reg.key, reg.signed) == (f.quantity, f.signed)
            assert f.scale == pytest.approx(1 / reg.divisor)


@given(st.integers(-400, 800))
def test_signed_temperature_round_trips(tenths: int) -> None:
    registers = {a: 0 for a in range(7)} | {1: tenths & 0xFFFF}
    assert SEVEN_IN_ONE.decode(registers)["soil_temperature"] == pytest.approx(tenths / 10)


@given(st.lists(st.integers(0, 0xFFFF), min_size=27, max_size=27))
def test_every_register_block_decodes_to_every_quantity(raw: list[int]) -> None:
    [block] = JXCT.blocks()
    values = JXCT.decode(block_registers(block, raw))
    assert set(values) == {f.quantity for f in JXCT.fields}


def test_short_reply_and_bad_register_are_errors() -> None:
    with pytest.raises(DeviceReadError) as info:
        block_registers(ReadBlock(0, 7), [1, 2, 3])
    assert info.value.reason == "short_reply"
    with pytest.raises(DeviceReadError) as info:
        SEVEN_IN_ONE.decode(dict(enumerate([70000, 0, 0, 0, 0, 0, 0])))
    assert info.value.reason == "bad_register"


@given(st.sets(st.integers(0, 400), min_size=1, max_size=30), st.integers(1, 125))
def test_plan_covers_every_address_in_the_fewest_bounded_reads(
    addresses: set[int], max_span: int
) -> None:
    blocks = plan_reads(addresses, max_span)
    covered = {b.start + i for b in blocks for i in range(b.count)}
    assert addresses <= covered
    assert all(1 <= b.count <= max_span for b in blocks)
    assert all(b.start in addresses and b.start + b.count - 1 in addresses for b in blocks)
    # No two neighbouring blocks could have been one read.
    ordered = sorted(blocks, key=lambda b: b.start)
    for first, second in itertools.pairwise(ordered):
        assert second.start + second.count - first.start > max_span
    if max(addresses) - min(addresses) < max_span:
        assert len(blocks) == 1


def test_far_apart_registers_take_several_reads() -> None:
    wide = RegisterMap(
        "wide",
        (
            RegisterField(0x0000, "soil_moisture", 0.1),
            RegisterField(0x0001, "soil_temperature", 0.1, signed=True),
            RegisterField(0x0100, "soil_ec", 1.0),
        ),
    )
    assert wide.blocks() == (ReadBlock(0, 2), ReadBlock(0x100, 1))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ((), "no registers"),
        (
            (RegisterField(0, "soil_ph", 0.1), RegisterField(0, "soil_ec", 1.0)),
            "repeats address 0",
        ),
        (
            (RegisterField(0, "soil_ph", 0.1), RegisterField(1, "soil_ph", 1.0)),
            "repeats quantity soil_ph",
        ),
    ],
)
def test_bad_maps_are_refused(fields: tuple[RegisterField, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RegisterMap("bad", fields)


def test_bad_register_fields_are_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        RegisterField(0x10000, "soil_ph", 0.1)
    with pytest.raises(ValueError, match="non-zero"):
        RegisterField(0, "soil_ph", 0.0)


def test_inter_frame_gap() -> None:
    assert inter_frame_gap_s(4800) == pytest.approx(3.5 * 11 / 4800)  # about 8 ms
    assert inter_frame_gap_s(115200) == pytest.approx(0.00175)


def _reply(unit: int, registers: list[int]) -> bytes:
    body = bytes([unit, 3, 2 * len(registers)]) + b"".join(r.to_bytes(2, "big") for r in registers)
    return body + FramerRTU.compute_CRC(body).to_bytes(2, "big")


# A recorded reply of unit 1 to "read 7 registers from 0": 65.8 %, -10.1 degC, 1000 uS/cm, ...
RECORDED = bytes.fromhex("01 03 0e 02 92 ff 9b 03 e8 00 38 00 20 00 13 00 3a")
RECORDED += FramerRTU.compute_CRC(RECORDED).to_bytes(2, "big")


def test_recorded_reply_is_found_as_is() -> None:
    assert crc_ok(RECORDED)
    assert scan_reply(RECORDED, 1, 3, 7) == ReplyScan(RECORDED, 0, False)


@given(
    noise=st.binary(max_size=40),
    trailer=st.binary(max_size=10),
    unit=st.integers(1, 247),
    registers=st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=30),
)
def test_reply_is_found_behind_any_noise(
    noise: bytes, trailer: bytes, unit: int, registers: list[int]
) -> None:
    frame = _reply(unit, registers)
    scan = scan_reply(noise + frame + trailer, unit, 3, len(registers))
    assert scan.frame == frame
    # Noise that happens to hold an earlier valid frame of the same shape is the only way to
    # stop short; it cannot reach past where the real frame starts.
    assert scan.skipped <= len(noise)


@given(noise=st.binary(max_size=40), cut=st.integers(1, 18))
def test_incomplete_reply_is_not_found_yet(noise: bytes, cut: int) -> None:
    scan = scan_reply(noise + RECORDED[:-cut], 1, 3, 7)
    assert scan.frame is None or scan.frame != RECORDED


def test_bad_crc_and_exception_replies() -> None:
    broken = RECORDED[:-1] + bytes([RECORDED[-1] ^ 0xA5])
    assert scan_reply(broken, 1, 3, 7) == ReplyScan(None, 0, True)
    exception = bytes([1, 0x83, 2])
    exception += FramerRTU.compute_CRC(exception).to_bytes(2, "big")
    assert scan_reply(b"\x00\xff" + exception, 1, 3, 7).frame == exception
    assert scan_reply(RECORDED, 2, 3, 7).frame is None  # another unit's reply is not ours
    assert scan_reply(b"\x01\x03\x0e", 1, 3, 7) == ReplyScan(None, 0, False)
