"""The gateway's SDI-12 bus against the emulated adapter and probes, through real ptys."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import serial

from firmware_sim.model import FieldModel, ModelConfig
from firmware_sim.pty_link import PtyLink
from firmware_sim.sdi12_probe import Sdi12Adapter
from gateway.drivers.base import DeviceResult, PortLostError
from gateway.drivers.sdi12 import Sdi12Bus, Sdi12Sensor, crc16, encode_crc

MEASURE_S = 0.05
TIMEOUT_S = 0.3
_MODEL = FieldModel(ModelConfig(seed=7))


def stamp() -> tuple[int, int]:
    return 1_800_000_000_000, 42


@contextmanager
def rig(
    tmp_path: Path, addresses: tuple[str, ...] = ("0",), *, values_per_reply: int = 9, **bus: object
) -> Iterator[tuple[Sdi12Adapter, Sdi12Bus, PtyLink]]:
    """Emulated adapter and probes on a pty link (behind a by-id-like name), the gateway's bus."""
    with PtyLink("sdi12", baudrate=9600, host_symlink=tmp_path / "usb-sdi12") as link:
        device = Sdi12Adapter(
            _MODEL,
            link.device_path,
            addresses=addresses,
            measure_s=MEASURE_S,
            line_timing=False,
            values_per_reply=values_per_reply,
        )
        device.start()
        sensors = [Sdi12Sensor(f"teros-{a}", a) for a in addresses]
        options = {"timeout_s": TIMEOUT_S, "retries": 0, **bus}
        gateway = Sdi12Bus(link.host_path, sensors, **options)  # type: ignore[arg-type]
        try:
            gateway.open()
            yield device, gateway, link
        finally:
            gateway.close()
            device.stop()


def assert_matches_history(result: DeviceResult, device: Sdi12Adapter, address: str) -> None:
    """The measurements are exactly what the probe last sent (moisture: from its counts)."""
    assert result.error is None, result.error
    served = device.history(address)[-1].values
    got = {m.quantity: m.value for m in result.measurements}
    assert got == {
        "soil_moisture": pytest.approx(served["soil_moisture"], abs=1e-4),
        "soil_temperature": served["soil_temperature"],
        "soil_ec": served["soil_ec"],
    }
    assert {(m.device_id, m.wall_ms, m.mono_ns) for m in result.measurements} == {
        (f"teros-{address}", *stamp())
    }


def test_one_probe_round_trip_with_crc(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gateway.drivers.sdi12")
    with rig(tmp_path) as (device, bus, _):
        [identified] = [r for r in caplog.records if r.getMessage() == "SDI-12 sensor identified"]
        logged = vars(identified)
        assert (logged["vendor"], logged["model"], logged["version"]) == ("TANISIM", "TER12", "400")
        for polls in (1, 2):
            [result] = bus.poll(stamp)
            assert_matches_history(result, device, "0")
            assert len(device.history("0")) == polls


def test_without_crc(tmp_path: Path) -> None:
    with rig(tmp_path, crc=False) as (device, bus, _):
        [result] = bus.poll(stamp)
        assert_matches_history(result, device, "0")


def test_two_probes_one_after_the_other(tmp_path: Path) -> None:
    with rig(tmp_path, ("0", "b"), concurrent=False) as (device, bus, _):
        first, second = bus.poll(stamp)
        assert_matches_history(first, device, "0")
        assert_matches_history(second, device, "b")
        assert first.measurements != second.measurements  # two spots never read alike


def test_two_probes_measure_concurrently(tmp_path: Path) -> None:
    # With several probes the bus uses aCC! and waits the announced 1 s before asking for data
    # (asking earlier would abort the measurement, and the data would be short).
    with rig(tmp_path, ("0", "b")) as (device, bus, _):
        first, second = bus.poll(stamp)
        assert_matches_history(first, device, "0")
        assert_matches_history(second, device, "b")


def test_values_over_several_data_replies(tmp_path: Path) -> None:
    with rig(tmp_path, values_per_reply=1) as (device, bus, _):
        [result] = bus.poll(stamp)
        assert_matches_history(result, device, "0")


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("bad_crc", "bad_crc"),
        ("garbage", "garbled_reply"),
        ("partial", "garbled_reply"),
        ("silent", "no_reply"),
    ],
)
def test_a_fault_fails_one_poll_then_the_next_succeeds(
    tmp_path: Path, fault: str, reason: str
) -> None:
    with rig(tmp_path) as (device, bus, _):
        device.inject(fault)
        [failed] = bus.poll(stamp)
        assert failed.measurements == []
        assert failed.error is not None and failed.error.reason == reason
        assert device.history("0") == []
        device.clear()
        [result] = bus.poll(stamp)
        assert_matches_history(result, device, "0")
        assert len(device.history("0")) == 1


def test_a_retry_hides_one_bad_crc(tmp_path: Path) -> None:
    with rig(tmp_path, retries=1) as (device, bus, _):
        device.inject("bad_crc")
        [result] = bus.poll(stamp)
        assert_matches_history(result, device, "0")
        assert len(device.history("0")) == 1


def test_one_silent_probe_does_not_harm_the_other(tmp_path: Path) -> None:
    with rig(tmp_path, ("0", "b"), concurrent=False) as (device, bus, _):
        device.inject("silent", address="0")
        first, second = bus.poll(stamp)
        assert first.error is not None and first.error.reason == "no_reply"
        assert_matches_history(second, device, "b")


def test_unplugged_adapter_is_port_lost_and_comes_back(tmp_path: Path) -> None:
    with rig(tmp_path) as (device, bus, link):
        link.unplug()
        with pytest.raises(PortLostError):
            bus.poll(stamp)
        bus.close()
        with pytest.raises(PortLostError) as info:
            bus.open()
        assert info.value.reason == "port_unavailable"
        link.replug()
        bus.open()
        [result] = bus.poll(stamp)
        assert_matches_history(result, device, "0")


def _with_crc(body: bytes) -> bytes:
    return body + encode_crc(crc16(body)) + b"\r\n"


@contextmanager
def scripted(tmp_path: Path, replies: dict[bytes, bytes]) -> Iterator[Sdi12Bus]:
    """A recorded conversation: each command gets its reply, others none."""
    stop = threading.Event()
    with PtyLink("sdi12", host_symlink=tmp_path / "usb-sdi12") as link:
        device = serial.Serial(link.device_path, 9600, timeout=0.02)

        def answer() -> None:
            pending = b""
            while not stop.is_set():
                pending += device.read(64)
                while b"!" in pending:
                    command, _, pending = pending.partition(b"!")
                    device.write(replies.get(command + b"!", b""))

        thread = threading.Thread(target=answer)
        thread.start()
        bus = Sdi12Bus(link.host_path, [Sdi12Sensor("teros-0", "0")], timeout_s=TIMEOUT_S)
        try:
            bus.open()
            yield bus
        finally:
            bus.close()
            stop.set()
            thread.join()
            device.close()


def test_recorded_conversation_with_short_data(tmp_path: Path) -> None:
    replies = {
        b"0MC!": b"00003\r\n",
        b"0D0!": _with_crc(b"0+2716.35+27.1"),
        b"0D1!": _with_crc(b"0"),  # the third value never comes
    }
    with scripted(tmp_path, replies) as bus:
        [result] = bus.poll(stamp)
    assert result.error is not None and result.error.reason == "short_data"


def test_recorded_conversation_with_another_sensor_answering(tmp_path: Path) -> None:
    replies = {b"0MC!": b"00003\r\n", b"0D0!": _with_crc(b"1+2716.35+27.1+312")}
    with scripted(tmp_path, replies) as bus:
        [result] = bus.poll(stamp)
    assert result.error is not None and result.error.reason == "wrong_address"


def test_recorded_conversation_split_over_two_replies(tmp_path: Path) -> None:
    replies = {
        b"0MC!": b"00003\r\n",
        b"0D0!": _with_crc(b"0+2566.80+21.5"),
        b"0D1!": _with_crc(b"0+450"),
    }
    with scripted(tmp_path, replies) as bus:
        [result] = bus.poll(stamp)
    assert {m.quantity: m.value for m in result.measurements} == {
        "soil_moisture": pytest.approx(30.0, abs=0.01),
        "soil_temperature": 21.5,
        "soil_ec": 450.0,
    }
