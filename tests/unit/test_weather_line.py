"""The ASCII weather-station line parser and the tipping-bucket rain gauge."""

from __future__ import annotations

import contextlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.drivers.ascii_weather import RainGauge, WeatherLineError, checksum, parse_line


def make_line(body: str) -> bytes:
    return f"${body}*{checksum(body.encode()):02X}\r\n".encode()


GOOD = make_line("WXSTA,17,TA=27.4,RH=81.2,PA=1008.6,WS=1.8,WD=135,RC=12,SR=512")


def test_parses_a_recorded_line() -> None:
    sample = parse_line(GOOD)
    assert sample.seq == 17
    assert sample.rain_count == 12
    assert sample.values == {
        "air_temperature": 27.4,
        "air_humidity": 81.2,
        "air_pressure": 1008.6,
        "wind_speed": 1.8,
        "wind_direction": 135.0,
        "solar_radiation": 512.0,
    }


def test_noise_before_the_sentence_is_ignored() -> None:
    assert parse_line(b"\x00\x13garbage" + GOOD).seq == 17


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (GOOD.replace(b"27.4", b"27.5"), "checksum mismatch"),
        (GOOD[:30], "checksum"),
        (b"no dollar here\r\n", "no '$'"),
        (make_line("WXSTA,1,TA=27.4"), "missing"),
        (make_line("WXSTA,1,TA=hot,RH=1,PA=1,WS=1,WD=1,RC=1,SR=1"), "not a number"),
        (make_line("WXSTA,1,TA=nan,RH=1,PA=1,WS=1,WD=1,RC=1,SR=1"), "finite"),
        (make_line("GPGGA,1,TA=1,RH=1,PA=1,WS=1,WD=1,RC=1,SR=1"), "not a WXSTA"),
        (make_line("WXSTA,1,TA=1,RH=1,PA=1,WS=1,WD=1,RC=70000,SR=1"), "rain counter"),
        (make_line("WXSTA,1,TA1,RH=1"), "KEY=VALUE"),
        (b"$" + b"A" * 300 + b"*00\r\n", "too long"),
    ],
)
def test_garbled_lines_are_refused_with_a_reason(line: bytes, reason: str) -> None:
    with pytest.raises(WeatherLineError, match=re.escape(reason)) as info:
        parse_line(line)
    assert info.value.reason == "garbled_line"


@given(st.binary(max_size=120))
def test_arbitrary_bytes_are_parsed_or_refused(line: bytes) -> None:
    with contextlib.suppress(WeatherLineError):
        parse_line(line)


def test_rain_gauge_counts_tips_and_wraps() -> None:
    gauge = RainGauge()
    assert gauge.millimetres(65534) is None  # first line: only the reference
    assert gauge.millimetres(65535) == pytest.approx(0.2)
    assert gauge.millimetres(3) == pytest.approx(0.8)  # wrapped past 65535
    assert gauge.millimetres(3) == 0.0
