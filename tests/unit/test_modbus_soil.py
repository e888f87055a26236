"""Register conversions of the 7-in-1 soil probe."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.drivers.base import DeviceReadError
from gateway.drivers.modbus_soil import REGISTER_COUNT, SEVEN_IN_ONE, decode_registers


def test_datasheet_example() -> None:
    # moisture 65.8 %, temperature -10.1 degC (0xFF9B), EC 1000 uS/cm, pH 5.6, N 32, P 19, K 58
    values = decode_registers([658, 0xFF9B, 1000, 56, 32, 19, 58])
    assert values == {
        "soil_moisture": 65.8,
        "soil_temperature": -10.1,
        "soil_ec": 1000.0,
        "soil_ph": 5.6,
        "soil_nitrogen": 32.0,
        "soil_phosphorus": 19.0,
        "soil_potassium": 58.0,
    }


@given(st.integers(-400, 800))
def test_signed_temperature_round_trips(tenths: int) -> None:
    raw = tenths & 0xFFFF
    registers = [0, raw, 0, 0, 0, 0, 0]
    assert decode_registers(registers)["soil_temperature"] == pytest.approx(tenths / 10)


@given(st.lists(st.integers(0, 0xFFFF), min_size=REGISTER_COUNT, max_size=REGISTER_COUNT))
def test_every_register_block_decodes_to_every_quantity(registers: list[int]) -> None:
    values = decode_registers(registers)
    assert set(values) == {f.quantity for f in SEVEN_IN_ONE}


def test_short_reply_is_an_error() -> None:
    with pytest.raises(DeviceReadError) as info:
        decode_registers([1, 2, 3])
    assert info.value.reason == "short_reply"
