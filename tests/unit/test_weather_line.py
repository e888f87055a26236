"""The weather-line parser for every format, and the rain gauge."""

from __future__ import annotations

import contextlib
import dataclasses
import random
import re
import typing

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_sim.model import FieldModel, ModelConfig
from firmware_sim.weather_lines import FORMATS
from gateway.config_devices import BuiltinFormat
from gateway.drivers.ascii_weather import RainGauge
from gateway.drivers.weather_lines import (
    BUILTIN_FORMATS,
    VAISALA_WXT,
    WXSTA,
    LineField,
    LineFormat,
    RainField,
    Slot,
    WeatherLineError,
    checksum,
    parse_line,
)


def make_line(body: str) -> bytes:
    return f"${body}*{checksum(body.encode()):02X}\r\n".encode()


GOOD = make_line("WXSTA,17,TA=27.4,RH=81.2,PA=1008.6,WS=1.8,WD=135,RC=12,SR=512")
WXT = b"0R0,Dm=027D,Sm=0.1M,Ta=23.6C,Ua=14.2P,Pa=1026.6H,Rc=0.10M\r\n"
# An NMEA 0183 MDA (meteorological composite) sentence, as Airmar stations send it: pressure in
# inches of mercury and in bars, air temperature, humidity, wind direction and speed in m/s.
MDA = make_line("WIMDA,29.9139,I,1.0130,B,24.5,C,,,78.0,,20.4,C,135.0,T,134.1,M,3.5,N,1.8,M")
MDA_FORMAT = LineFormat(
    name="mda",
    sentence="$WIMDA",
    layout="positional",
    checksum="nmea",
    fields=(
        LineField("air_pressure", Slot(position=2), scale=1000.0),
        LineField("air_temperature", Slot(position=4)),
        LineField("air_humidity", Slot(position=8)),
        LineField("wind_direction", Slot(position=12)),
        LineField("wind_speed", Slot(position=18)),
    ),
)


def test_parses_a_recorded_wxsta_line() -> None:
    sample = parse_line(GOOD, WXSTA)
    assert sample.seq == 17
    assert sample.rain_raw == 12
    assert sample.values == {
        "air_temperature": 27.4,
        "air_humidity": 81.2,
        "air_pressure": 1008.6,
        "wind_speed": 1.8,
        "wind_direction": 135.0,
        "solar_radiation": 512.0,
    }


def test_parses_a_vaisala_composite_message() -> None:
    sample = parse_line(WXT, VAISALA_WXT)
    assert sample.seq is None
    assert sample.rain_raw == pytest.approx(0.10)
    assert sample.values == {
        "wind_direction": 27.0,
        "wind_speed": 0.1,
        "air_temperature": 23.6,
        "air_humidity": 14.2,
        "air_pressure": 1026.6,
    }


def test_vaisala_extra_parameters_are_ignored_and_invalid_values_left_out() -> None:
    line = b"0R0,Dn=020D,Dm=027D,Sm=0.0#,Ta=23.6C,Ua=14.2P,Pa=1026.6H,Rc=0.10M,Th=24.1C\r\n"
    sample = parse_line(line, VAISALA_WXT)
    assert "wind_speed" not in sample.values
    assert sample.invalid == ("Sm",)
    assert sample.values["wind_direction"] == 27.0


def test_parses_a_positional_nmea_sentence_with_a_scale() -> None:
    sample = parse_line(MDA, MDA_FORMAT)
    assert sample.values == {
        "air_pressure": 1013.0,
        "air_temperature": 24.5,
        "air_humidity": 78.0,
        "wind_direction": 135.0,
        "wind_speed": 1.8,
    }


@pytest.mark.parametrize(("fmt", "line"), [(WXSTA, GOOD), (VAISALA_WXT, WXT), (MDA_FORMAT, MDA)])
def test_noise_and_a_cut_line_before_the_sentence_are_skipped(fmt: LineFormat, line: bytes) -> None:
    noise = b"\x00\x13\xfegarbage" + line[:9]  # line noise, then the start of a line cut short
    clean = parse_line(line, fmt)
    assert parse_line(noise + line, fmt) == dataclasses.replace(clean, skipped=len(noise))


@pytest.mark.parametrize(
    ("fmt", "line", "reason"),
    [
        (WXSTA, GOOD.replace(b"27.4", b"27.5"), "checksum mismatch"),
        (WXSTA, GOOD[:30], "checksum"),
        (WXSTA, b"no dollar here\r\n", "no '$WXSTA' sentence"),
        (WXSTA, make_line("WXSTA,1,TA=27.4"), "missing"),
        (WXSTA, make_line("WXSTA,1,TA=hot,RH=1,PA=1,WS=1,WD=1,RC=1,SR=1"), "not a number"),
        (WXSTA, make_line("WXSTA,1,TA=nan,RH=1,PA=1,WS=1,WD=1,RC=1,SR=1"), "finite"),
        (WXSTA, make_line("WXSTA,1,TA=,RH=1,PA=1,WS=1,WD=1,RC=1,SR=1"), "TA has no value"),
        (WXSTA, make_line("GPGGA,1,TA=1,RH=1,PA=1,WS=1,WD=1,RC=1,SR=1"), "no '$WXSTA' sentence"),
        (WXSTA, make_line("WXSTA,1,TA=1,RH=1,PA=1,WS=1,WD=1,RC=70000,SR=1"), "rain counter"),
        (WXSTA, make_line("WXSTA,x,TA=1,RH=1,PA=1,WS=1,WD=1,RC=1,SR=1"), "sample counter"),
        (WXSTA, make_line("WXSTA,1,TA1,RH=1"), "KEY=VALUE"),
        (WXSTA, b"$" + b"A" * 300 + b"*00\r\n", "too long"),
        (VAISALA_WXT, WXT.replace(b"23.6C", b"74.5F"), "not in unit 'C'"),
        (VAISALA_WXT, WXT.replace(b"Rc=0.10M", b"Rc=0.1"), "not in unit 'M'"),
        (VAISALA_WXT, WXT.replace(b"Rc=0.10M", b"Rc=-1.00M"), "negative"),
        (VAISALA_WXT, WXT.replace(b",Pa=1026.6H", b""), "missing Pa"),
        (VAISALA_WXT, WXT.replace(b"23.6", b"2x.6"), "not a number"),
        (VAISALA_WXT, WXT.replace(b"0R0,", b"0R1,"), "no '0R0' sentence"),
        (VAISALA_WXT, b"0R0,Dm=027D,\xff\r\n", "non-ASCII"),
        (MDA_FORMAT, make_line("WIMDA,29.9,I,1.01,B,24.5,C"), "missing position 8"),
        (
            MDA_FORMAT,
            make_line("WIMDA,29.9,I,,B,24.5,C,,,78,,20,C,135,T,134,M,3.5,N,1.8,M"),
            "no value",
        ),
    ],
)
def test_bad_lines_are_refused_with_a_reason(fmt: LineFormat, line: bytes, reason: str) -> None:
    with pytest.raises(WeatherLineError, match=re.escape(reason)) as info:
        parse_line(line, fmt)
    assert info.value.reason == "garbled_line"


@pytest.mark.parametrize("fmt", [WXSTA, VAISALA_WXT, MDA_FORMAT])
@given(line=st.binary(max_size=120))
def test_arbitrary_bytes_are_parsed_or_refused(fmt: LineFormat, line: bytes) -> None:
    with contextlib.suppress(WeatherLineError):
        parse_line(line, fmt)


@given(
    fmt=st.sampled_from([WXSTA, VAISALA_WXT]),
    prefix=st.binary(max_size=60).filter(lambda b: b"\n" not in b),
)
def test_arbitrary_noise_before_a_good_line_is_harmless(fmt: LineFormat, prefix: bytes) -> None:
    line = GOOD if fmt is WXSTA else WXT
    assert parse_line(prefix + line, fmt).values == parse_line(line, fmt).values


_MODEL = FieldModel(ModelConfig(seed=1, origin_unix_s=1_700_000_000.0))


@settings(deadline=None)  # the first sample integrates the soil up to a week
@given(
    name=st.sampled_from(sorted(FORMATS)),
    minutes=st.integers(0, 60 * 24 * 30),
    seq=st.integers(0, 65535),
)
def test_what_the_emulator_sends_parses_to_what_it_meant(name: str, minutes: int, seq: int) -> None:
    rendered = FORMATS[name].render(seq, _MODEL.sample(1_700_000_000.0 + minutes * 60))
    sample = parse_line(rendered.line.encode("ascii"), BUILTIN_FORMATS[name])
    for quantity, value in sample.values.items():
        assert rendered.values[quantity] == pytest.approx(value)
    assert sample.rain_raw == pytest.approx(rendered.rain_raw)
    assert sample.seq == (seq if name == "wxsta" else None)


@settings(deadline=None)
@given(
    name=st.sampled_from(sorted(FORMATS)),
    minutes=st.integers(0, 60 * 24 * 30),
    seed=st.integers(0, 10_000),
    data=st.data(),
)
def test_every_garble_mode_is_refused(
    name: str, minutes: int, seed: int, data: st.DataObject
) -> None:
    emulator = FORMATS[name]
    rendered = emulator.render(seed, _MODEL.sample(1_700_000_000.0 + minutes * 60))
    mode = data.draw(st.sampled_from(emulator.garble_modes))
    broken = emulator.garble(rendered.line, mode, random.Random(seed))
    with pytest.raises(WeatherLineError):
        parse_line(broken.encode("ascii"), BUILTIN_FORMATS[name])


def test_builtin_formats_match_the_emulator_and_the_config_names() -> None:
    assert set(BUILTIN_FORMATS) == set(FORMATS) == set(typing.get_args(BuiltinFormat))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sentence": "WXSTA", "checksum": "nmea"}, "starts with '\\$'"),
        ({"sentence": "0R0", "separator": ""}, "non-empty"),
        ({"sentence": "0R0", "layout": "positional"}, "by position"),
        (
            {"sentence": "0R0", "rain": RainField(Slot(key="TA"))},
            "repeats slot TA",
        ),
    ],
)
def test_bad_formats_are_refused(kwargs: dict[str, typing.Any], message: str) -> None:
    fields = (LineField("air_temperature", Slot(key="TA")),)
    with pytest.raises(ValueError, match=message):
        LineFormat(name="bad", fields=fields, **kwargs)
    with pytest.raises(ValueError, match="exactly one"):
        Slot(key="TA", position=1)


def test_tip_counter_counts_tips_and_wraps() -> None:
    gauge = RainGauge(RainField(Slot(key="RC"), mm_per_tip=0.2, modulus=65536))
    assert gauge.millimetres(65534) is None  # first line: only the reference
    assert gauge.millimetres(65535) == pytest.approx(0.2)
    assert gauge.millimetres(3) == pytest.approx(0.8)  # wrapped past 65535
    assert gauge.millimetres(3) == 0.0


def test_total_mm_counts_growth_and_survives_a_reset() -> None:
    gauge = RainGauge(RainField(Slot(key="Rc"), mode="total_mm"))
    assert gauge.millimetres(12.3) is None
    assert gauge.millimetres(12.5) == pytest.approx(0.2)
    assert gauge.millimetres(0.4) == pytest.approx(0.4)  # the station reset its counter


def test_interval_mm_is_reported_as_sent() -> None:
    gauge = RainGauge(RainField(Slot(key="R"), mode="interval_mm"))
    assert gauge.millimetres(0.6) == pytest.approx(0.6)  # even the first line: it is datable
    assert gauge.millimetres(0.0) == 0.0
