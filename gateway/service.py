"""The gateway: pollers feed the forwarder, the forwarder feeds the MQTT link; health on top."""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime

from gateway.buses import build_buses
from gateway.clock import Clock, SystemClock
from gateway.config import GatewayConfig
from gateway.drivers.base import Measurement
from gateway.forwarder import Forwarder, ForwarderStats
from gateway.outbox import Outbox
from gateway.pollers import DeviceHealth, Poller
from gateway.publisher import MqttPublisher
from gateway.systemd import notify
from gateway.uplink import link_quality
from telemetry.codec import content_type

log = logging.getLogger(__name__)

# Measurements are committed to the outbox and PUBACKs settled this often: the window in which
# a power cut can lose a reading that was read but not yet on disk.
TICK_S = 0.25
OUTBOX_RECOVERED_S = 10.0


@dataclass(frozen=True, slots=True)
class OutboxDiskState:
    """Whether the outbox takes writes; when not, since when and why (disk full, SD card)."""

    ok: bool = True
    error: str | None = None
    since_ms: int | None = None
    failures: int = 0


@dataclass(slots=True)
class GatewayStats(ForwarderStats):
    """The forwarding counters plus each failing device's errors by reason."""

    device_errors: dict[str, dict[str, int]] = field(default_factory=dict)


class Gateway:
    """A running gateway built from its configuration."""

    def __init__(self, config: GatewayConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.gateway_id = config.gateway_id
        floor_ms = int(datetime.combine(config.clock.floor, datetime.min.time(), UTC).timestamp())
        self.clock: Clock = clock or SystemClock(floor_ms * 1000, config.clock.trust_after_floor)
        self._measurements: queue.SimpleQueue[list[Measurement]] = queue.SimpleQueue()
        self._health = DeviceHealth(config.gateway_id)
        self._pollers = [
            Poller(bus, interval_s, self.clock.stamp, self._measurements, self._health)
            for bus, interval_s in build_buses(config)
        ]
        payload_format = config.publish.payload_format
        self._publisher = MqttPublisher(
            config.gateway_id,
            config.mqtt,
            content_type(payload_format) if payload_format == "json" else None,
            acks=config.publish.confirm == "ingest",
        )
        self._stats = ForwarderStats()
        self._stats_lock = threading.Lock()
        self._disk = OutboxDiskState()
        self._disk_failed_mono = 0.0
        self._stopping = threading.Event()
        self._drain_timeout_s = 0.0
        self._started_mono = time.monotonic()
        self._forwarder: Forwarder | None = None
        self._thread = threading.Thread(target=self._run, name="forwarder", daemon=True)

    def start(self) -> None:
        """Open the outbox (raises OutboxError if it cannot), start polling and publishing."""
        log.info("gateway starting", extra={"gateway_id": self.gateway_id})
        outbox = Outbox(self.config.state_dir / "outbox.sqlite3", self.gateway_id)
        self._forwarder = Forwarder(
            self.config,
            outbox,
            self._publisher,
            self.clock,
            self._measurements,
            on_stats=self._publish_stats,
        )
        self._started_mono = time.monotonic()
        self._publisher.start()
        self._thread.start()
        for poller in self._pollers:
            poller.start()
        notify("READY=1")

    def stop(self, drain_timeout_s: float = 10.0) -> None:
        """Stop reading; give the publisher up to ``drain_timeout_s`` to empty the outbox."""
        notify("STOPPING=1")
        for poller in self._pollers:
            poller.stop()
        for poller in self._pollers:
            poller.join()
        self._drain_timeout_s = drain_timeout_s
        self._stopping.set()
        self._thread.join()
        self._publisher.stop()
        log.info("gateway stopped", extra={"gateway_id": self.gateway_id})

    def stats(self) -> GatewayStats:
        """A copy of the current counters."""
        with self._stats_lock:
            forwarded = asdict(self._stats)
        errors = {d: s.errors for d, s in self._health.snapshot().items() if s.errors}
        return GatewayStats(**forwarded, device_errors=errors)

    def health_report(self) -> dict[str, object]:
        """What the periodic health message says."""
        stats = self.stats()
        state = self.clock.state()
        report: dict[str, object] = {
            "uptime_s": round(time.monotonic() - self._started_mono),
            "outbox_depth": stats.outbox_depth,
            "outbox": {
                "ok": self._disk.ok,
                "error": self._disk.error,
                "since_ms": self._disk.since_ms,
                "failures": self._disk.failures,
                "bytes": stats.outbox_bytes,
                "wal_bytes": stats.wal_bytes,
            },
            "waiting_for_clock": stats.waiting_for_clock,
            "readings_sent": stats.readings_sent,
            "readings_thinned": stats.readings_thinned,
            "clock": {"trusted": state.trusted, "source": state.source},
            "devices": {
                device_id: {
                    "online": s.online,
                    "last_ok_ms": s.last_ok_ms,
                    "errors": s.errors,
                }
                for device_id, s in self._health.snapshot().items()
            },
            "link": link_quality(),
        }
        if state.trusted:
            # Without a trusted clock the server's receive time is the better guess.
            report["time_ms"] = self.clock.stamp()[0]
        return report

    def _publish_stats(self, stats: ForwarderStats) -> None:
        with self._stats_lock:
            self._stats = replace(stats)

    def _run(self) -> None:
        forwarder = self._forwarder
        assert forwarder is not None, "start() creates the forwarder"
        interval = self.config.publish.interval_s
        next_publish = next_health = time.monotonic()
        try:
            while not self._stopping.is_set():
                now = time.monotonic()
                publish_fresh = now >= next_publish
                if publish_fresh:
                    next_publish = now + interval
                self._tick(forwarder, publish_fresh)
                # Said by the thread that does the work: if it hangs, systemd restarts us.
                notify("WATCHDOG=1")
                if now >= next_health and self._publisher.publish_health(
                    json.dumps(self.health_report(), separators=(",", ":")).encode()
                ):
                    next_health = now + self.config.publish.health_interval_s
                self._stopping.wait(TICK_S)
            self._drain(forwarder)
        finally:
            forwarder.outbox.close()

    def outbox_state(self) -> OutboxDiskState:
        """Whether the outbox takes writes right now."""
        return self._disk

    def _tick(self, forwarder: Forwarder, publish_fresh: bool) -> None:
        try:
            committed = forwarder.tick(publish_fresh)
        except sqlite3.Error as exc:
            # Disk full or SD card trouble: keep polling, keep what is in memory, retry. Said
            # once when it starts and once when it ends, not four times a second.
            self._outbox_failed(forwarder, exc)
        else:
            # Only commits prove the disk takes writes again (a tick may write nothing), and
            # a nearly full disk takes some writes and refuses others: recovered means
            # OUTBOX_RECOVERED_S of commits without a failure.
            if (
                committed
                and not self._disk.ok
                and time.monotonic() - self._disk_failed_mono >= OUTBOX_RECOVERED_S
            ):
                log.warning(
                    "outbox writable again",
                    extra={
                        "gateway_id": self.gateway_id,
                        "failed_s": round(time.time() - (self._disk.since_ms or 0) / 1000),
                        "failures": self._disk.failures,
                    },
                )
                self._disk = OutboxDiskState(failures=self._disk.failures)

    def _outbox_failed(self, forwarder: Forwarder, exc: sqlite3.Error) -> None:
        self._disk_failed_mono = time.monotonic()
        if self._disk.ok or self._disk.error != str(exc):
            log.error(
                f"outbox unusable ({exc}): readings wait in memory, retrying every tick; free "
                "disk space or replace the SD card",
                extra={"gateway_id": self.gateway_id, "state_dir": str(self.config.state_dir)},
            )
            since = self._disk.since_ms if not self._disk.ok else time.time_ns() // 1_000_000
            self._disk = replace(self._disk, ok=False, error=str(exc), since_ms=since)
            # The log may be busy or the disk gone altogether: the next failure tries again.
            with contextlib.suppress(sqlite3.Error):
                forwarder.outbox.release_space()
        self._disk = replace(self._disk, failures=self._disk.failures + 1)

    def _drain(self, forwarder: Forwarder) -> None:
        """On stop: publish what is left, within the drain timeout."""
        deadline = time.monotonic() + self._drain_timeout_s
        while time.monotonic() < deadline:
            self._tick(forwarder, publish_fresh=True)
            if forwarder.idle and (
                forwarder.stats.outbox_depth == forwarder.stats.waiting_for_clock
                or not self._publisher.connected.is_set()
            ):
                return
            time.sleep(0.05)
