"""The simulated site as a whole: life cycle, clean shutdown, run_forever."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest
import serial

from firmware_sim.site import SimulatedSite, SiteConfig, run_forever


def test_start_and_stop_leave_nothing_behind() -> None:
    threads = threading.active_count()
    site = SimulatedSite(SiteConfig(soil_device_ids=(1, 2, 3), weather_interval_s=0.2))
    site.start()
    assert set(site.ports) == {"soil", "weather"}
    assert all(os.path.exists(path) for path in site.ports.values())
    assert threading.active_count() > threads
    with serial.Serial(site.ports["weather"], 4800, timeout=2) as line:
        assert line.readline().startswith(b"$WXSTA,")
    site.stop()
    site.stop()  # idempotent
    assert threading.active_count() == threads
    assert site.ports == {}
    with pytest.raises(RuntimeError):
        site.soil_history()


def test_stable_names_for_the_ports(tmp_path: Path) -> None:
    config = SiteConfig(
        soil_symlink=str(tmp_path / "soil-bus"), weather_symlink=str(tmp_path / "weather")
    )
    with SimulatedSite(config) as site:
        assert site.ports == {
            "soil": str(tmp_path / "soil-bus"),
            "weather": str(tmp_path / "weather"),
        }
        assert os.readlink(tmp_path / "soil-bus").startswith("/dev/pts/")
    assert list(tmp_path.iterdir()) == []


def test_a_port_can_be_unplugged_and_plugged_back(tmp_path: Path) -> None:
    link = tmp_path / "by-id" / "usb-soil"
    with SimulatedSite(SiteConfig(soil_symlink=str(link), weather_interval_s=0.2)) as site:
        old = os.readlink(link)
        site.unplug("soil")
        assert not link.is_symlink()
        assert site.ports["soil"] == str(link)  # the stable name, even while it is gone
        site.replug("soil")
        assert os.readlink(link) != old
        with pytest.raises(ValueError):
            site.unplug("pump")


def test_unknown_map_or_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown register maps"):
        SimulatedSite(SiteConfig(soil_maps={1: "no-such-probe"})).start()
    with pytest.raises(ValueError, match="not on this bus"):
        SimulatedSite(SiteConfig(soil_maps={2: "jxct"})).start()
    with pytest.raises(ValueError, match="unknown line format"):
        SimulatedSite(SiteConfig(weather_format="morse")).start()


def test_failed_start_undoes_what_was_started() -> None:
    site = SimulatedSite(SiteConfig(soil_device_ids=(0,)))  # 0 is the broadcast address
    with pytest.raises(ValueError):
        site.start()
    assert site.ports == {}


def test_run_forever_prints_ports_and_stops_on_sigint() -> None:
    printed: list[str] = []
    sent = threading.Event()

    def printer(text: str) -> None:
        printed.append(text)
        if len(printed) == 2:
            # Deliver SIGINT once the paths are out, as a user's Ctrl-C would.
            os.kill(os.getpid(), signal.SIGINT)
            sent.set()

    before = signal.getsignal(signal.SIGINT)
    run_forever(SiteConfig(weather_interval_s=0.2), print_fn=printer)
    assert sent.is_set()
    names = [line.split(" ", 1)[0] for line in printed]
    assert names == ["soil", "weather"]
    assert all(line.split(" ", 1)[1].startswith("/dev/pts/") for line in printed)
    assert signal.getsignal(signal.SIGINT) is before
