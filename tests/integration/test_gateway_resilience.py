"""The gateway loses nothing and changes nothing through what happens in the field.

Real Mosquitto (the session ``stack``, or a private one the test stops and starts), emulated
devices on ptys, the gateway as a real process where the test kills it. Loss is judged by
sequence numbers: every reading the gateway committed has one, so 1..last must all arrive.
Readings are checked against what the emulators actually sent.
"""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from firmware_sim.site import SimulatedSite, SiteConfig
from gateway.clock import ClockState
from gateway.config import (
    GatewayConfig,
    ModbusBusSettings,
    MqttSettings,
    ProbeSettings,
    PublishSettings,
    WeatherStationSettings,
)
from gateway.outbox import Outbox
from gateway.service import Gateway
from tani.stack import Stack
from tests.integration.support import (
    Collector,
    assert_no_gaps,
    assert_readings_match_history,
    wait_for,
)

pytestmark = pytest.mark.integration

GATEWAY_ID = "gw-tahan"


@pytest.fixture
def site() -> Iterator[SimulatedSite]:
    sim = SimulatedSite(SiteConfig(seed=3, weather_interval_s=0.5))
    sim.start()
    yield sim
    sim.stop()


def _config(stack: Stack, site: SimulatedSite, state_dir: Path) -> GatewayConfig:
    creds = stack.add_mqtt_user(GATEWAY_ID, "gateway")
    return GatewayConfig(
        gateway_id=GATEWAY_ID,
        state_dir=state_dir,
        mqtt=MqttSettings(
            host=stack.mqtt_host,
            port=stack.mqtt_port,
            username=creds.username,
            password=creds.password,
            reconnect_min_s=0.2,
            reconnect_max_s=1.0,
        ),
        publish=PublishSettings(interval_s=0.3, batch_size=50, backlog_batch_size=200),
        modbus=[
            ModbusBusSettings(
                port=site.ports["soil"],
                interval_s=0.3,
                probes=[ProbeSettings(device_id="soil-1", unit=1)],
            )
        ],
        weather=[
            WeatherStationSettings(device_id="weather-1", port=site.ports["weather"], baudrate=4800)
        ],
    )


def _last_seq(state_dir: Path) -> tuple[int, int]:
    """(highest sequence number given out, readings still in the outbox) of a stopped gateway."""
    outbox = Outbox(state_dir / "outbox.sqlite3", GATEWAY_ID)
    try:
        return outbox.max_seq(), outbox.depth()
    finally:
        outbox.close()


def _everything_arrived(collector: Collector, state_dir: Path) -> None:
    """The stopped gateway's outbox is empty and every sequence number it gave out arrived."""
    last_seq, left = _last_seq(state_dir)
    assert left == 0
    wait_for(lambda: collector.count() >= last_seq, what="every committed reading")
    assert_no_gaps(collector.snapshot(), last_seq)


def _check_against_emulators(collector: Collector, site: SimulatedSite) -> None:
    readings = collector.snapshot().values()
    checked = assert_readings_match_history(readings, "soil-1", site.soil_history(device_id=1))
    checked += assert_readings_match_history(
        [r for r in readings if r.quantity != "rain"], "weather-1", site.weather_history()
    )
    assert checked > 0


def _start_process(config: GatewayConfig, path: Path) -> subprocess.Popen[bytes]:
    path.write_text(_toml(config))
    return subprocess.Popen(
        [sys.executable, "-c", "from tani.cli import app; app()", "gateway", "-c", str(path)],
        stderr=subprocess.DEVNULL,
    )


def _toml(config: GatewayConfig) -> str:
    m, p, bus, w = config.mqtt, config.publish, config.modbus[0], config.weather[0]
    return f"""
gateway_id = "{config.gateway_id}"
state_dir = "{config.state_dir}"
[mqtt]
host = "{m.host}"
port = {m.port}
username = "{m.username}"
password = "{m.password}"
reconnect_min_s = {m.reconnect_min_s}
reconnect_max_s = {m.reconnect_max_s}
[publish]
interval_s = {p.interval_s}
batch_size = {p.batch_size}
backlog_batch_size = {p.backlog_batch_size}
[[modbus]]
port = "{bus.port}"
interval_s = {bus.interval_s}
probes = [{{ device_id = "soil-1", unit = 1 }}]
[[weather]]
device_id = "weather-1"
port = "{w.port}"
baudrate = 4800
"""


def test_kill_9_while_publishing_loses_nothing(
    stack: Stack, site: SimulatedSite, tmp_path: Path
) -> None:
    config = _config(stack, site, tmp_path / "state")
    collector = Collector(stack, GATEWAY_ID)
    process = _start_process(config, tmp_path / "gateway.toml")
    try:
        wait_for(lambda: collector.count() >= 40, what="first readings")
        process.send_signal(signal.SIGKILL)
        process.wait()
        before_restart = collector.count()
        process = _start_process(config, tmp_path / "gateway.toml")
        wait_for(lambda: collector.count() >= before_restart + 40, what="readings after restart")
        process.send_signal(signal.SIGTERM)  # a clean stop drains the outbox
        assert process.wait(30) == 0
        _everything_arrived(collector, config.state_dir)
        _check_against_emulators(collector, site)
    finally:
        # A failed test must not leave a gateway reading other tests' ptys.
        if process.poll() is None:
            process.kill()
            process.wait()
        collector.close()


def test_broker_stopped_for_a_while_loses_nothing(
    private_stack: Stack, site: SimulatedSite, tmp_path: Path
) -> None:
    private_stack.up()
    config = _config(private_stack, site, tmp_path / "state")
    collector = Collector(private_stack, GATEWAY_ID)
    gateway = Gateway(config)
    gateway.start()
    try:
        wait_for(lambda: collector.count() >= 20, what="first readings")
        private_stack.down()
        # The gateway keeps reading into its outbox while the broker is away.
        outage_start = gateway.stats().readings_measured
        wait_for(
            lambda: gateway.stats().readings_measured >= outage_start + 60,
            what="readings during the outage",
        )
        assert gateway.stats().outbox_depth > 0
        private_stack.up()
        wait_for(lambda: gateway.stats().outbox_depth < 20, timeout=30, what="backlog replayed")
    finally:
        gateway.stop()
    try:
        _everything_arrived(collector, config.state_dir)
        _check_against_emulators(collector, site)
    finally:
        collector.close()


@dataclass
class NtpLateClock:
    """A Pi's clocks before and after NTP: the wall clock is ``lag_ms`` behind until synced."""

    boot_id: str = "boot-under-test"
    lag_ms: int = 3 * 86_400_000
    synced: bool = False

    def stamp(self) -> tuple[int, int]:
        wall = time.time_ns() // 1_000_000
        return (wall if self.synced else wall - self.lag_ms), time.monotonic_ns()

    def state(self) -> ClockState:
        return ClockState(True, "ntp") if self.synced else ClockState(False, "none")

    def observe_server_time(self, server_ms: int, mono_ns: int) -> None:
        """This test is about NTP alone: the collector's acks do not set the time."""

    def raise_floor(self, time_ms: int) -> None:
        """No floor: only NTP is believed."""


def test_clock_jumping_forward_when_ntp_arrives_gives_true_times(
    stack: Stack, site: SimulatedSite, tmp_path: Path
) -> None:
    config = _config(stack, site, tmp_path / "state")
    collector = Collector(stack, GATEWAY_ID)
    clock = NtpLateClock()
    gateway = Gateway(config, clock=clock)
    gateway.start()
    try:
        wait_for(lambda: gateway.stats().waiting_for_clock >= 40, what="readings before NTP")
        # Nothing goes out with a time that is three days off.
        assert collector.count() == 0
        clock.synced = True  # NTP: the wall clock jumps three days forward
        wait_for(lambda: gateway.stats().waiting_for_clock == 0, what="held readings rebased")
        wait_for(lambda: collector.count() >= 80, what="readings after NTP")
    finally:
        gateway.stop()
    try:
        _everything_arrived(collector, config.state_dir)
        assert all(r.time_trusted for r in collector.snapshot().values())
        # Held and fresh readings alike carry the time the emulator really sent them.
        _check_against_emulators(collector, site)
        assert gateway.stats().readings_rebased >= 40
    finally:
        collector.close()


@pytest.fixture
def usb_site(tmp_path: Path) -> Iterator[SimulatedSite]:
    """A site whose adapters appear under stable /dev/serial/by-id-like names."""
    by_id = tmp_path / "serial" / "by-id"
    by_id.mkdir(parents=True)
    sim = SimulatedSite(
        SiteConfig(
            seed=4,
            weather_interval_s=0.5,
            soil_symlink=str(by_id / "usb-FTDI_RS485-if00-port0"),
            weather_symlink=str(by_id / "usb-Prolific-weather-port0"),
        )
    )
    sim.start()
    yield sim
    sim.stop()


def test_usb_adapter_removed_and_restored_loses_nothing(
    stack: Stack, usb_site: SimulatedSite, tmp_path: Path
) -> None:
    site = usb_site
    by_id = tmp_path / "serial" / "by-id"
    config = _config(stack, site, tmp_path / "state")
    assert config.modbus[0].port.startswith(str(by_id))  # the gateway only knows the by-id names
    collector = Collector(stack, GATEWAY_ID)
    gateway = Gateway(config)
    gateway.start()
    try:
        wait_for(lambda: collector.count() >= 20, what="first readings")
        site.unplug("soil")
        wait_for(
            lambda: (
                {"port_lost", "port_unavailable"}
                & gateway.stats().device_errors.get("soil-1", {}).keys()
            ),
            what="the lost adapter noticed",
        )
        wait_for(
            lambda: gateway.health_report()["devices"]["soil-1"]["online"] is False,
            what="soil probe reported offline",
        )
        # The other port keeps going.
        assert gateway.health_report()["devices"]["weather-1"]["online"] is True
        soil_before = sum(1 for r in collector.snapshot().values() if r.device_id == "soil-1")
        site.replug("soil")  # back, on another /dev/pts/N behind the same by-id name
        wait_for(
            lambda: (
                sum(1 for r in collector.snapshot().values() if r.device_id == "soil-1")
                >= soil_before + 14
            ),
            timeout=30,
            what="soil readings after the adapter returned",
        )
        assert gateway.health_report()["devices"]["soil-1"]["online"] is True
    finally:
        gateway.stop()
    try:
        _everything_arrived(collector, config.state_dir)
        _check_against_emulators(collector, site)
    finally:
        collector.close()


def test_outbox_on_a_full_disk_says_so_once_keeps_readings_and_recovers(
    stack: Stack, site: SimulatedSite, tmp_path: Path
) -> None:
    """A full SD card, made real with RLIMIT_FSIZE: every write past the limit fails (EFBIG).

    Before: the gateway logged the same error four times a second (436 lines in two minutes)
    and the WAL took 1 MiB of the little space there was.
    """
    config = _config(stack, site, tmp_path / "state")
    config_path = tmp_path / "gateway.toml"
    config_path.write_text(_toml(config))
    log_path = tmp_path / "gateway.log"
    collector = Collector(stack, GATEWAY_ID)
    # Room for the empty outbox and a few seconds of readings; SIGXFSZ ignored (inherited by
    # the gateway), so a write past the limit fails instead of killing the process.
    limit = 96 * 1024

    def full_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from tani.cli import app; app()",
                "gateway",
                "-c",
                str(config_path),
            ],
            stderr=log,
            preexec_fn=full_disk,
        )
    try:
        wait_for(lambda: "outbox unusable" in log_path.read_text(), what="the full disk noticed")
        time.sleep(5)  # twenty ticks on a full disk
        lines = log_path.read_text().splitlines()
        assert sum("outbox unusable" in line for line in lines) == 1
        wal = Path(f"{config.state_dir / 'outbox.sqlite3'}-wal")
        assert not wal.exists() or wal.stat().st_size <= limit
        resource.prlimit(process.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)
        wait_for(
            lambda: "outbox writable again" in log_path.read_text(),
            timeout=40,
            what="the disk usable again",
        )
        count = collector.count()
        wait_for(lambda: collector.count() >= count + 20, what="readings after the disk freed")
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
        # The readings measured while the disk was full were kept in memory, then committed.
        _everything_arrived(collector, config.state_dir)
        _check_against_emulators(collector, site)
    finally:
        if process.poll() is None:
            process.kill()
        collector.close()
