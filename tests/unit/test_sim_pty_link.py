"""The pty null-modem cable: bytes both ways, reopening, pacing, symlink, clean close."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import serial

from firmware_sim.pty_link import PtyLink


def _port(path: str, timeout: float = 1.0) -> serial.Serial:
    return serial.Serial(path, 4800, timeout=timeout)


def test_bytes_pass_both_ways() -> None:
    with PtyLink("t") as link, _port(link.device_path) as dev, _port(link.host_path) as host:
        dev.write(b"$WXSTA,0*00\r\n")
        assert host.readline() == b"$WXSTA,0*00\r\n"
        request = bytes([1, 3, 0, 0, 0, 7, 0x04, 0x08])
        host.write(request)
        assert dev.read(len(request)) == request


def test_raw_line_keeps_every_byte_value() -> None:
    # No echo, no CR/LF translation, no flow-control characters eaten.
    everything = bytes(range(256))
    with PtyLink("t") as link, _port(link.device_path) as dev, _port(link.host_path) as host:
        host.write(everything)
        assert dev.read(256) == everything
        host.timeout = 0.1
        assert host.read(1) == b"", "the line echoed"


def test_host_side_can_close_and_reopen() -> None:
    with PtyLink("t") as link, _port(link.device_path) as dev:
        for i in range(3):
            with _port(link.host_path) as host:
                dev.write(f"line {i}\n".encode())
                assert host.readline() == f"line {i}\n".encode()
                host.write(b"ack\n")
                assert dev.readline() == b"ack\n"


def test_bytes_sent_while_host_closed_are_not_read_after_reopen() -> None:
    with PtyLink("t") as link, _port(link.device_path) as dev:
        dev.write(b"nobody listens\n")
        time.sleep(0.1)
        with _port(link.host_path, timeout=0.2) as host:
            dev.write(b"fresh\n")
            assert host.readline() == b"fresh\n"


def test_pacing_delays_the_next_chunk_but_never_splits_one() -> None:
    with (
        PtyLink("t", baudrate=9600) as link,
        _port(link.device_path) as dev,
        _port(link.host_path, timeout=2) as host,
    ):
        dev.write(b"x" * 240)  # 240 bytes at 9600 baud 8N1: 0.25 s on the wire
        first = host.read(240)
        arrived = time.monotonic()
        dev.write(b"y")
        assert host.read(1) == b"y"
        assert first == b"x" * 240
        assert time.monotonic() - arrived >= 0.2


def test_symlink_points_at_host_side_and_goes_away(tmp_path: Path) -> None:
    name = tmp_path / "by-id" / "usb-soil-probe"
    name.parent.mkdir()
    name.symlink_to("/nonexistent/stale")  # a leftover from a crashed run is replaced
    with PtyLink("t", host_symlink=name) as link:
        assert link.host_path == str(name)
        assert os.readlink(name).startswith("/dev/pts/")
        with _port(link.device_path) as dev, _port(link.host_path) as host:
            dev.write(b"hi\n")
            assert host.readline() == b"hi\n"
    assert not name.exists() and not name.is_symlink()


def test_symlink_never_overwrites_a_real_file(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("not a port")
    with pytest.raises(FileExistsError):
        PtyLink("t", host_symlink=tmp_path / "taken")


def test_flood_with_nobody_reading_does_not_wedge_the_link() -> None:
    link = PtyLink("t")
    with _port(link.device_path) as dev:
        dev.write_timeout = 2
        dev.write(b"z" * 20_000)  # more than a pty buffer holds: the rest is dropped
        time.sleep(0.1)
    started = time.monotonic()
    link.close()
    assert time.monotonic() - started < 1.0


def test_close_is_idempotent() -> None:
    link = PtyLink("t")
    link.close()
    link.close()


def test_unplug_kills_the_host_side_and_replug_brings_a_new_pty(tmp_path: Path) -> None:
    name = tmp_path / "by-id" / "usb-soil-probe"
    with PtyLink("t", host_symlink=name) as link, _port(link.device_path) as dev:
        old = os.readlink(name)
        host = _port(link.host_path, timeout=0.2)
        link.unplug()
        assert not link.plugged
        assert not name.exists() and not name.is_symlink()
        assert not os.path.exists(old)  # the /dev/pts node vanished, as /dev/ttyUSB0 does
        with pytest.raises(serial.SerialException):
            host.write(b"x")  # EIO
        with pytest.raises(serial.SerialException):
            host.read(1)
        host.close()
        dev.write(b"nobody hears this\n")
        link.replug()
        assert link.plugged
        assert os.readlink(name) != old
        with _port(link.host_path) as again:
            dev.write(b"back\n")
            assert again.readline() == b"back\n"
            again.write(b"ok\n")
            assert dev.readline() == b"ok\n"
    assert not name.exists() and not name.is_symlink()


def test_replug_without_a_symlink_moves_the_host_path() -> None:
    with PtyLink("t") as link:
        old = link.host_path
        link.unplug()
        assert link.host_path == old
        with pytest.raises(RuntimeError):
            link.unplug()
        link.replug()
        assert link.host_path != old and os.path.exists(link.host_path)
        with pytest.raises(RuntimeError):
            link.replug()


def test_close_while_unplugged() -> None:
    link = PtyLink("t")
    link.unplug()
    link.close()
