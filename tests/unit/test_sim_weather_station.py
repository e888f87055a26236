"""The emulated ASCII weather station, read line by line with pyserial through a pty."""

from __future__ import annotations

import functools
import itertools
import random
import re
import time
from collections.abc import Iterator

import pytest
import serial
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_sim import quantities as q
from firmware_sim.model import FieldModel, ModelConfig
from firmware_sim.site import SimulatedSite, SiteConfig
from firmware_sim.weather_lines import (
    RAIN_TOTAL_MM,
    format_line,
    garble,
    rain_tip_count,
    sample_fields,
)

INTERVAL_S = 0.25
LINE = re.compile(
    rb"\$WXSTA,(?P<seq>\d+),TA=(?P<TA>-?\d+\.\d),RH=(?P<RH>\d+\.\d),PA=(?P<PA>\d+\.\d),"
    rb"WS=(?P<WS>\d+\.\d),WD=(?P<WD>\d{1,3}),RC=(?P<RC>\d+),SR=(?P<SR>\d+)\*(?P<cs>[0-9A-F]{2})\r\n"
)
FIELD_KEYS = {
    "TA": q.AIR_TEMPERATURE,
    "RH": q.AIR_HUMIDITY,
    "PA": q.AIR_PRESSURE,
    "WS": q.WIND_SPEED,
    "WD": q.WIND_DIRECTION,
    "SR": q.SOLAR_RADIATION,
}


@pytest.fixture
def site() -> Iterator[SimulatedSite]:
    with SimulatedSite(SiteConfig(seed=5, weather_interval_s=INTERVAL_S)) as running:
        yield running


@pytest.fixture
def port(site: SimulatedSite) -> Iterator[serial.Serial]:
    with serial.Serial(site.ports["weather"], 4800, timeout=3 * INTERVAL_S + 1) as line:
        yield line


def _checksum_ok(line: bytes) -> bool:
    """An independent check, written from the format's description."""
    if not line.startswith(b"$") or b"*" not in line or not line.endswith(b"\r\n"):
        return False
    body, _, tail = line[1:].partition(b"*")
    expected = functools.reduce(lambda acc, byte: acc ^ byte, body, 0)
    return tail[:-2] == f"{expected:02X}".encode()


def test_lines_match_the_format_with_a_good_checksum(
    site: SimulatedSite, port: serial.Serial
) -> None:
    lines = [port.readline() for _ in range(3)]
    seqs = []
    for line in lines:
        match = LINE.fullmatch(line)
        assert match, line
        assert _checksum_ok(line)
        assert 0 <= int(match["WD"]) <= 359
        seqs.append(int(match["seq"]))
    assert seqs == list(range(seqs[0], seqs[0] + 3))
    # What came over the wire is what the history says was sent.
    by_seq = {int(s.values[q.SAMPLE_SEQ]): s for s in site.weather_history()}
    for line in lines:
        match = LINE.fullmatch(line)
        assert match
        served = by_seq[int(match["seq"])]
        for field, key in FIELD_KEYS.items():
            assert served.values[key] == float(match[field])
        assert served.values[q.RAIN_TIP_COUNT] == int(match["RC"])


def test_garble_breaks_one_line_then_good_lines_again(
    site: SimulatedSite, port: serial.Serial
) -> None:
    assert _checksum_ok(port.readline())
    site.inject("weather", "garble", count=1)
    after = [port.readline() for _ in range(3)]
    assert [_checksum_ok(line) for line in after] == [False, True, True]
    # The garbled sample still used a sequence number, and is not in the history.
    seqs = [int(m["seq"]) for line in after[1:] if (m := LINE.fullmatch(line))]
    history_seqs = [int(s.values[q.SAMPLE_SEQ]) for s in site.weather_history()]
    assert seqs[0] - 1 not in history_seqs
    assert set(seqs) <= set(history_seqs)


def test_silent_station_sends_nothing_until_cleared(
    site: SimulatedSite, port: serial.Serial
) -> None:
    first = LINE.fullmatch(port.readline())
    assert first
    site.inject("weather", "silent")
    time.sleep(INTERVAL_S)  # the line in flight when silenced may still arrive
    port.reset_input_buffer()
    port.timeout = 2 * INTERVAL_S
    assert port.readline() == b""
    site.clear("weather")
    port.timeout = 3 * INTERVAL_S + 1
    later = LINE.fullmatch(port.readline())
    assert later
    assert int(later["seq"]) > int(first["seq"]) + 2  # the station kept sampling


def test_rain_in_history_is_tips_since_previous_line() -> None:
    # A simulated day a second and many showers, so the bucket tips between lines.
    config = SiteConfig(
        seed=9,
        time_scale=86400.0,
        rain_events_per_day=10.0,
        weather_interval_s=0.05,
        pacing=False,
    )
    with SimulatedSite(config) as site:
        deadline = time.monotonic() + 5
        while len(site.weather_history()) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        history = site.weather_history()
    assert len(history) >= 20
    counts = [int(s.values[q.RAIN_TIP_COUNT]) for s in history]
    assert counts[-1] > counts[0]  # it rained
    assert history[0].values[q.RAIN] == 0.0
    for previous, current in itertools.pairwise(history):
        tips = current.values[q.RAIN_TIP_COUNT] - previous.values[q.RAIN_TIP_COUNT]
        assert current.values[q.RAIN] == pytest.approx(tips * 0.2)


def test_format_line_for_a_known_sample() -> None:
    model = FieldModel(ModelConfig(seed=1, origin_unix_s=1_700_000_000.0))
    sample = model.sample(1_700_000_000.0)
    line = format_line(65537, sample_fields(sample), rain_count=65536 + 12).encode()
    match = LINE.fullmatch(line)
    assert match and _checksum_ok(line)
    assert (match["seq"], match["RC"]) == (b"1", b"12")  # both counters wrap at 65536
    assert float(match["TA"]) == round(sample.air_temperature, 1)


def test_rain_tip_count() -> None:
    assert rain_tip_count(0.0) == 0
    assert rain_tip_count(0.19) == 0
    assert rain_tip_count(0.6) == 3  # not 2: 0.6 / 0.2 is 2.9999999999999996 in floats
    assert rain_tip_count(65536 * 0.2 + 0.4) == 2


_MODEL = FieldModel(ModelConfig(seed=1, origin_unix_s=1_700_000_000.0))


@settings(deadline=None)  # the first sample integrates the soil up to a week
@given(
    seed=st.integers(0, 10_000),
    mode=st.sampled_from(["flip", "drop", "truncate"]),
    seq=st.integers(0, 65535),
)
def test_every_garble_mode_breaks_the_checksum(seed: int, mode: str, seq: int) -> None:
    sample = _MODEL.sample(1_700_000_000.0 + seed * 60)
    line = format_line(seq, sample_fields(sample), rain_count=seed)
    assert _checksum_ok(line.encode())
    broken = garble(line, mode, random.Random(seed))
    assert broken.isascii() and broken.endswith("\r\n")
    assert not _checksum_ok(broken.encode())


WXT_LINE = re.compile(
    rb"0R0,Dm=(?P<Dm>\d{3})D,Sm=(?P<Sm>\d+\.\d)M,Ta=(?P<Ta>-?\d+\.\d)C,Ua=(?P<Ua>\d+\.\d)P,"
    rb"Pa=(?P<Pa>\d+\.\d)H,Rc=(?P<Rc>\d+\.\d\d)M\r\n"
)
WXT_KEYS = {
    "Dm": q.WIND_DIRECTION,
    "Sm": q.WIND_SPEED,
    "Ta": q.AIR_TEMPERATURE,
    "Ua": q.AIR_HUMIDITY,
    "Pa": q.AIR_PRESSURE,
}


def test_vaisala_format_lines_match_their_history() -> None:
    config = SiteConfig(seed=5, weather_interval_s=INTERVAL_S, weather_format="vaisala_wxt")
    with (
        SimulatedSite(config) as site,
        serial.Serial(site.ports["weather"], 4800, timeout=3 * INTERVAL_S + 1) as port,
    ):
        port.readline()  # may have started before we opened the port
        lines = [port.readline() for _ in range(3)]
        history = site.weather_history()
    for line in lines:
        match = WXT_LINE.fullmatch(line)
        assert match, line
        sent = {quantity: float(match[key]) for key, quantity in WXT_KEYS.items()}
        sent[RAIN_TOTAL_MM] = float(match["Rc"])
        assert any(all(s.values[k] == v for k, v in sent.items()) for s in history), line
    assert all(q.SOLAR_RADIATION not in s.values for s in history)


def test_partial_line_is_followed_straight_on_by_the_next(
    site: SimulatedSite, port: serial.Serial
) -> None:
    assert LINE.fullmatch(port.readline())
    site.inject("weather", "partial")
    joined = port.readline()
    cut, _, rest = joined.rpartition(b"$")
    assert cut.startswith(b"$") and b"\n" not in cut
    good = LINE.fullmatch(b"$" + rest)
    assert good and _checksum_ok(b"$" + rest)
    history_seqs = [int(s.values[q.SAMPLE_SEQ]) for s in site.weather_history()]
    assert int(good["seq"]) - 1 not in history_seqs  # the cut sample was never sent whole
    assert int(good["seq"]) in history_seqs


def test_garbage_is_noise_before_an_intact_line(site: SimulatedSite, port: serial.Serial) -> None:
    assert LINE.fullmatch(port.readline())
    site.inject("weather", "garbage")
    noisy = port.readline()
    start = noisy.rindex(b"$WXSTA,")
    assert start > 0
    assert LINE.fullmatch(noisy[start:]) and _checksum_ok(noisy[start:])
