"""The emulated USB SDI-12 adapter and its TEROS-12-like probes, read with pyserial via a pty."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import serial
from hypothesis import given
from hypothesis import strategies as st

from firmware_sim import quantities as q
from firmware_sim.model import FieldModel, ModelConfig
from firmware_sim.pty_link import PtyLink
from firmware_sim.sdi12_probe import VWC_RAW, Sdi12Adapter, data_parts
from firmware_sim.site import SimulatedSite, SiteConfig

MEASURE_S = 0.05
DATA = re.compile(rb"(?P<a>[0-9a-zA-Z])(?P<raw>\+\d{4}\.\d{2})(?P<t>[+-]\d+\.\d)(?P<ec>\+\d+)")
_MODEL = FieldModel(ModelConfig(seed=4))  # origin now: sampling "now" is cheap


@contextmanager
def adapter(**options: object) -> Iterator[tuple[Sdi12Adapter, serial.Serial]]:
    """An adapter on a pty link, and the host's end of the link opened with pyserial."""
    options = {"addresses": ("0", "a"), "measure_s": MEASURE_S, "line_timing": False, **options}
    with PtyLink("sdi12") as link:
        device = Sdi12Adapter(_MODEL, link.device_path, **options)  # type: ignore[arg-type]
        device.start()
        try:
            with serial.Serial(link.host_path, 9600, timeout=1.0) as host:
                yield device, host
        finally:
            device.stop()


def ask(host: serial.Serial, command: bytes) -> bytes:
    host.write(command)
    return host.readline()


def crc_ok(line: bytes) -> bool:
    """An independent check of the SDI-12 CRC, from the spec's algorithm."""
    body, chars = line[:-5], line[-5:-2]
    crc = 0
    for byte in body:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return chars == bytes([0x40 | crc >> 12, 0x40 | (crc >> 6) & 0x3F, 0x40 | crc & 0x3F])


def test_acknowledge_and_identify() -> None:
    with adapter() as (_, host):
        assert ask(host, b"0!") == b"0\r\n"
        assert ask(host, b"aI!") == b"a13TANISIM TER12 400SIM-a\r\n"
        host.timeout = 0.2
        assert ask(host, b"5I!") == b""  # nobody at address 5
        assert ask(host, b"0X!") == b""  # a command the probe does not know


def test_measure_service_request_and_data_match_the_history() -> None:
    with adapter() as (device, host):
        started = time.monotonic()
        assert ask(host, b"0M!") == b"00013\r\n"
        assert host.readline() == b"0\r\n"  # the service request, once measured
        assert time.monotonic() - started >= MEASURE_S
        line = ask(host, b"0D0!")
        match = DATA.fullmatch(line[:-2])
        assert match and line.endswith(b"\r\n"), line
        [served] = device.history("0")
        assert served.values == {
            VWC_RAW: float(match["raw"]),
            q.SOIL_TEMPERATURE: float(match["t"]),
            q.SOIL_EC: float(match["ec"]),
            q.SOIL_MOISTURE: pytest.approx((3.879e-4 * float(match["raw"]) - 0.6956) * 100),
        }
        assert 10 <= served.values[q.SOIL_MOISTURE] <= 60
        assert ask(host, b"0D1!") == b"0\r\n"  # every value came in D0
        assert device.history("a") == []


def test_crc_variants_and_concurrent_measurement() -> None:
    with adapter() as (device, host):
        assert ask(host, b"0MC!") == b"00013\r\n"
        assert host.readline() == b"0\r\n"
        line = ask(host, b"0D0!")
        assert crc_ok(line) and DATA.fullmatch(line[:-5])
        assert ask(host, b"aCC!") == b"a00103\r\n"
        host.timeout = 2 * MEASURE_S
        assert host.readline() == b""  # no service request after a concurrent measurement
        line = ask(host, b"aD0!")
        assert crc_ok(line) and DATA.fullmatch(line[:-5])
        assert ask(host, b"aC!") == b"a00103\r\n"
        time.sleep(MEASURE_S)
        assert DATA.fullmatch(ask(host, b"aD0!")[:-2])  # plain C: no CRC
        assert len(device.history("0")) == 1 and len(device.history("a")) == 2


def test_asking_too_early_aborts_the_measurement() -> None:
    with adapter(measure_s=1.0) as (device, host):
        assert ask(host, b"0CC!") == b"000103\r\n"
        line = ask(host, b"0D0!")
        assert line[:-5] == b"0" and crc_ok(line)  # no values: the measurement was aborted
        assert device.history("0") == []


def test_values_split_over_data_replies() -> None:
    with adapter(values_per_reply=2) as (device, host):
        assert ask(host, b"0C!") == b"000103\r\n"
        time.sleep(MEASURE_S)
        first, second = ask(host, b"0D0!"), ask(host, b"0D1!")
        assert len(re.findall(rb"[+-]", first)) == 2 and len(re.findall(rb"[+-]", second)) == 1
        assert DATA.fullmatch(first[:-2] + second[1:-2])
        assert ask(host, b"0D2!") == b"0\r\n"
        assert len(device.history("0")) == 1


def test_faults_spoil_replies_then_probes_answer_again() -> None:
    with adapter() as (device, host):
        device.inject("bad_crc", address="0")
        ask(host, b"0MC!")
        host.readline()
        bad = ask(host, b"0D0!")
        assert DATA.fullmatch(bad[:-5]) and not crc_ok(bad)
        assert device.history("0") == []
        good = ask(host, b"0D0!")  # the data is still there: asking again gets it intact
        assert crc_ok(good) and good[:-5] == bad[:-5]
        assert len(device.history("0")) == 1

        device.inject("garbage")
        noisy = ask(host, b"aI!")
        assert noisy.endswith(b"a13TANISIM TER12 400SIM-a\r\n") and noisy[0] not in b"aA0"
        assert any(not 0x20 <= byte <= 0x7E for byte in noisy[:-2])

        device.inject("partial", address="a")
        host.timeout = 0.2
        cut = ask(host, b"aI!")
        assert cut and not cut.endswith(b"\r\n") and b"a13TANISIM".startswith(cut[:10])

        device.inject("silent", address="a")
        assert ask(host, b"aI!") == b""
        assert ask(host, b"0!") == b"0\r\n"
        device.clear()
        assert ask(host, b"aI!") == b"a13TANISIM TER12 400SIM-a\r\n"
        with pytest.raises(ValueError, match="unknown fault"):
            device.inject("garble")


def test_line_timing_is_as_slow_as_the_sdi12_bus() -> None:
    with adapter(line_timing=True) as (_, host):
        started = time.monotonic()
        reply = ask(host, b"aI!")
        # Break, command and reply at 1200 baud 7E1: 8.3 ms a character.
        assert time.monotonic() - started >= 0.02 + (4 + len(reply)) * 10 / 1200


def test_bad_addresses_are_refused() -> None:
    with pytest.raises(ValueError, match="addresses"):
        Sdi12Adapter(_MODEL, "/dev/null", addresses=("0", "0"))
    with pytest.raises(ValueError, match="addresses"):
        Sdi12Adapter(_MODEL, "/dev/null", addresses=("?",))


@given(
    st.lists(st.text("+-.0123456789", min_size=2, max_size=12), min_size=1, max_size=20),
    st.sampled_from([35, 75]),
    st.integers(1, 9),
)
def test_data_parts_respect_the_reply_limits(texts: list[str], chars: int, per: int) -> None:
    parts = data_parts(texts, chars, per)
    assert [i for part in parts for i in part] == list(range(len(texts)))
    for part in parts:
        assert 1 <= len(part) <= per
        assert len(part) == 1 or sum(len(texts[i]) for i in part) <= chars


def test_site_has_an_sdi12_port_only_when_asked() -> None:
    with SimulatedSite(SiteConfig(weather_interval_s=60.0, pacing=False)) as site:
        assert "sdi12" not in site.ports
        with pytest.raises(RuntimeError, match="sdi12_addresses"):
            site.sdi12_history("0")
    config = SiteConfig(
        weather_interval_s=60.0, pacing=False, sdi12_addresses=("0", "1"), sdi12_measure_s=0.0
    )
    with (
        SimulatedSite(config) as site,
        serial.Serial(site.ports["sdi12"], 9600, timeout=1.0) as host,
    ):
        assert ask(host, b"1M!") == b"10003\r\n"  # measured at once: no service request
        assert DATA.fullmatch(ask(host, b"1D0!")[:-2])
        site.inject("sdi12", "silent", address="1")
        host.timeout = 0.2
        assert ask(host, b"1I!") == b""
        site.clear("sdi12", address="1")
        assert ask(host, b"1!") == b"1\r\n"
        assert len(site.sdi12_history("1")) == 1 and site.sdi12_history("0") == []
