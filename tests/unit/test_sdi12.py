"""SDI-12 reply parsing, the SDI-12 CRC and the [[sdi12]] configuration, without any port."""

from __future__ import annotations

import contextlib
import tomllib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_sim import sdi12_probe
from gateway.buses import build_buses
from gateway.config import GatewayConfig
from gateway.drivers.base import DeviceReadError
from gateway.drivers.sdi12 import (
    TEROS12,
    MeasureStart,
    Sdi12Bus,
    crc16,
    encode_crc,
    parse_data,
    parse_identification,
    parse_measure_start,
    split_line,
    teros12_vwc_percent,
    to_quantities,
)
from gateway.settings import ConfigError

# Recorded replies of a TEROS 12 at address 0 to aD0! after aMC!, and of other sensors.
TEROS_D0 = b"0+2716.35+27.1+312DmK"
FROM_SENSOR_1 = b"1+2716.35+27.1+312K\\Z"
NO_VALUES = b"0AP@"  # what an aborted measurement answers


def _decode_crc(chars: bytes) -> int:
    """Written from the spec's description: 4, 6 and 6 bits in the low bits of each char."""
    return ((chars[0] & 0x0F) << 12) | ((chars[1] & 0x3F) << 6) | (chars[2] & 0x3F)


def test_crc_matches_the_spec_example_and_crc16_arc() -> None:
    assert encode_crc(crc16(b"0+3.14")) == b"OqZ"  # SDI-12 v1.4, section 4.4.12.3
    assert crc16(b"123456789") == 0xBB3D  # the CRC-16/ARC check value


@given(st.integers(0, 0xFFFF))
def test_crc_encoding_round_trips(crc: int) -> None:
    chars = encode_crc(crc)
    assert len(chars) == 3 and all(0x40 <= c <= 0x7F for c in chars)
    assert _decode_crc(chars) == crc


@given(st.binary(max_size=80))
def test_emulator_and_driver_agree_on_the_crc(data: bytes) -> None:
    assert sdi12_probe.crc_chars(data) == encode_crc(crc16(data))


def test_split_line_says_what_it_used() -> None:
    assert split_line(b"0+1.2") == (0, None)
    assert split_line(TEROS_D0 + b"\r\n") == (len(TEROS_D0) + 2, TEROS_D0)
    # Bytes after the line are left for later; noise before it stays in the line.
    assert split_line(TEROS_D0 + b"\r\n\x00\xff0") == (len(TEROS_D0) + 2, TEROS_D0)
    assert split_line(b"\xff\x00" + TEROS_D0 + b"\r\n")[1] == b"\xff\x00" + TEROS_D0
    assert split_line(b"0\n") == (2, b"0")


def test_parses_recorded_teros12_data() -> None:
    assert parse_data(TEROS_D0, "0", crc=True) == (2716.35, 27.1, 312.0)
    assert parse_data(b"0+2716.35+27.1+312", "0", crc=False) == (2716.35, 27.1, 312.0)
    assert parse_data(b"a+1805.2-1.3+0.12B{K", "a", crc=True) == (1805.2, -1.3, 0.12)
    assert parse_data(NO_VALUES, "0", crc=True) == ()


@pytest.mark.parametrize(
    ("line", "crc", "reason"),
    [
        (TEROS_D0.replace(b"27.1", b"27.7"), True, "bad_crc"),  # a digit flipped on the cable
        (TEROS_D0[:-1] + b"L", True, "bad_crc"),
        (TEROS_D0[:-3], True, "bad_crc"),  # CRC missing
        (b"0+1", True, "bad_crc"),
        (b"zz" + TEROS_D0, True, "bad_crc"),  # printable noise before the reply
        (TEROS_D0 + b"##", True, "bad_crc"),  # and after it
        (b"\x00\xff" + TEROS_D0, True, "garbled_reply"),  # framing errors before it
        (TEROS_D0 + b"\xfe", True, "garbled_reply"),
        (b"", True, "garbled_reply"),
        (FROM_SENSOR_1, True, "wrong_address"),
        (b"1+2716.35", False, "wrong_address"),
        (b"+2716.35", False, "garbled_reply"),
        (b"0+2716.35x", False, "garbled_reply"),
        (b"0+12345678", False, "garbled_reply"),  # more than 7 digits
        (b"02716.35", False, "garbled_reply"),  # no sign
    ],
)
def test_bad_data_replies_are_refused_with_a_reason(line: bytes, crc: bool, reason: str) -> None:
    with pytest.raises(DeviceReadError) as info:
        parse_data(line, "0", crc=crc)
    assert info.value.reason == reason


def test_measure_start_replies() -> None:
    assert parse_measure_start(b"00013", "0", concurrent=False) == MeasureStart(1, 3)
    assert parse_measure_start(b"a00003", "a", concurrent=True) == MeasureStart(0, 3)
    with pytest.raises(DeviceReadError, match="tttn") as info:
        parse_measure_start(b"000103", "0", concurrent=False)
    assert info.value.reason == "garbled_reply"
    with pytest.raises(DeviceReadError) as info:
        parse_measure_start(b"10013", "0", concurrent=False)
    assert info.value.reason == "wrong_address"


def test_identification() -> None:
    ident = parse_identification(b"013METER   TER12 112631800001", "0")
    assert ident == ("1.3", "METER", "TER12", "112", "631800001")
    with pytest.raises(DeviceReadError) as info:
        parse_identification(b"013METER", "0")
    assert info.value.reason == "garbled_reply"


@given(st.binary(max_size=100), st.booleans(), st.sampled_from(["0", "a", "Z"]))
def test_arbitrary_bytes_are_parsed_or_refused(line: bytes, crc: bool, address: str) -> None:
    with contextlib.suppress(DeviceReadError):
        parse_data(line, address, crc=crc)
    with contextlib.suppress(DeviceReadError):
        parse_measure_start(line, address, concurrent=crc)
    with contextlib.suppress(DeviceReadError):
        parse_identification(line, address)
    used, found = split_line(line)
    assert 0 <= used <= len(line) and (found is None) == (used == 0)


@given(st.floats(0.0, 100.0), st.floats(-40.0, 80.0), st.floats(0.0, 20000.0))
def test_what_the_emulator_prints_parses_back(
    moisture: float, temperature: float, ec: float
) -> None:
    fields = [
        (sdi12_probe.VWC_RAW, f"{sdi12_probe.raw_counts(moisture):+.2f}"),
        ("soil_temperature", f"{temperature:+.1f}"),
        ("soil_ec", f"{round(ec):+d}"),
    ]
    body = ("0" + "".join(text for _, text in fields)).encode()
    values = parse_data(body + sdi12_probe.crc_chars(body), "0", crc=True)
    assert values == tuple(float(text) for _, text in fields)
    quantities = to_quantities(values, TEROS12)
    assert quantities["soil_moisture"] == pytest.approx(moisture, abs=0.001)
    assert quantities["soil_moisture"] == pytest.approx(
        sdi12_probe.served_values(fields)["soil_moisture"], abs=1e-4
    )


def test_teros12_calibration_and_short_data() -> None:
    # METER's mineral-soil calibration: RAW 1793.3 is dry, RAW 2566.8 is 30 % water.
    assert teros12_vwc_percent(1793.3) == pytest.approx(0.0, abs=0.01)
    assert teros12_vwc_percent(2566.8) == pytest.approx(30.0, abs=0.01)
    assert to_quantities((2566.8, 21.5, 450.0), TEROS12) == {
        "soil_moisture": pytest.approx(30.0, abs=0.01),
        "soil_temperature": 21.5,
        "soil_ec": 450.0,
    }
    with pytest.raises(DeviceReadError) as info:
        to_quantities((2566.8, 21.5), TEROS12)
    assert info.value.reason == "short_data"


_TEMPLATE = """
gateway_id = "gw-1"
[mqtt]
username = "gw-1"
password = "x"

[[sdi12]]
port = "/dev/serial/by-id/usb-sdi12-adapter"
interval_s = 300
sensors = SENSORS
"""
_CONFIG = _TEMPLATE.replace(
    "SENSORS",
    '[{ device_id = "teros-1", address = "0" }, { device_id = "teros-2", address = "a" }]',
)


def test_sdi12_section_builds_a_bus() -> None:
    config = GatewayConfig(**tomllib.loads(_CONFIG))
    [(bus, interval_s)] = build_buses(config)
    assert isinstance(bus, Sdi12Bus)
    assert interval_s == 300
    assert bus.port == "/dev/serial/by-id/usb-sdi12-adapter"
    assert bus.device_ids == ("teros-1", "teros-2")
    assert [s.address for s in bus.sensors] == ["0", "a"]


@pytest.mark.parametrize(
    ("sensors", "message"),
    [
        ('[{ device_id = "a", address = "0" }, { device_id = "b", address = "0" }]', "address"),
        ('[{ device_id = "a", address = "10" }]', "address"),
        ('[{ device_id = "a", address = "?" }]', "address"),
        ("[]", "sensors"),
    ],
)
def test_bad_sdi12_sections_are_refused_naming_the_key(sensors: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        GatewayConfig(**tomllib.loads(_TEMPLATE.replace("SENSORS", sensors)))
