"""The gateway: pollers feed the outbox, the outbox feeds the MQTT publisher.

The forwarding thread is the only user of the outbox: it commits measurements as they come,
publishes the oldest unsent readings in batches while the broker is reachable, and deletes them
when their PUBACK arrives. Only a bounded number of batches is handed to paho at a time, so a
long outage leaves the backlog on disk, not in memory.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from dataclasses import dataclass, field, replace

from gateway.buses import build_buses
from gateway.config import GatewayConfig
from gateway.drivers.base import Measurement, system_stamp
from gateway.outbox import Outbox, OutboxRow
from gateway.pollers import DeviceHealth, Poller
from gateway.publisher import MqttPublisher
from gateway.validation import classify
from telemetry.codec import encode_batch
from telemetry.quantities import QUANTITIES

log = logging.getLogger(__name__)

# Readings held in memory while the outbox cannot be written (about 100 bytes each).
MAX_PENDING = 100_000


@dataclass(slots=True)
class GatewayStats:
    """Counters a gateway reports about itself."""

    readings_measured: int = 0
    readings_dropped: int = 0
    readings_sent: int = 0
    batches_sent: int = 0
    batches_refused: int = 0
    outbox_depth: int = 0
    device_errors: dict[str, dict[str, int]] = field(default_factory=dict)


class Gateway:
    """A running gateway built from its configuration."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.gateway_id = config.gateway_id
        self._measurements: queue.SimpleQueue[list[Measurement]] = queue.SimpleQueue()
        self._publisher = MqttPublisher(config.gateway_id, config.mqtt)
        self._health = DeviceHealth(config.gateway_id)
        self._pollers = [
            Poller(bus, interval_s, system_stamp, self._measurements, self._health)
            for bus, interval_s in build_buses(config)
        ]
        self._stats = GatewayStats()
        self._stats_lock = threading.Lock()
        self._stop_forwarding = threading.Event()
        self._forwarder = threading.Thread(target=self._forward, name="forwarder", daemon=True)
        self._inflight: dict[int, list[int]] = {}
        self._cursor = 0
        self._drain_timeout_s = 0.0
        self._pending: list[OutboxRow] = []
        self._outbox: Outbox | None = None

    def start(self) -> None:
        """Open the outbox, start reading devices and publishing.

        Raises sqlite3.Error if the outbox cannot be opened (state_dir not writable).
        """
        log.info("gateway starting", extra={"gateway_id": self.gateway_id})
        self._outbox = Outbox(self.config.state_dir / "outbox.sqlite3", self.gateway_id)
        self._stats.outbox_depth = self._outbox.depth()
        self._publisher.start()
        self._forwarder.start()
        for poller in self._pollers:
            poller.start()

    def stop(self, drain_timeout_s: float = 10.0) -> None:
        """Stop reading, give the publisher up to ``drain_timeout_s`` to empty the outbox."""
        for poller in self._pollers:
            poller.stop()
        for poller in self._pollers:
            poller.join()
        self._drain_timeout_s = drain_timeout_s
        self._stop_forwarding.set()
        self._forwarder.join()
        self._publisher.stop()
        log.info("gateway stopped", extra={"gateway_id": self.gateway_id})

    def stats(self) -> GatewayStats:
        """A copy of the current counters."""
        with self._stats_lock:
            return replace(
                self._stats,
                device_errors={d: s.errors for d, s in self._health.snapshot().items() if s.errors},
            )

    def _forward(self) -> None:
        outbox = self._outbox
        assert outbox is not None, "start() opens the outbox"
        try:
            while not self._stop_forwarding.wait(self.config.publish.interval_s):
                try:
                    self._forward_once(outbox)
                except sqlite3.Error as exc:
                    # Disk full or SD card trouble: keep polling, keep what is in memory, retry.
                    log.error(
                        f"outbox unusable, retrying: {exc}", extra={"gateway_id": self.gateway_id}
                    )
            self._drain(outbox)
        finally:
            outbox.close()

    def _drain(self, outbox: Outbox) -> None:
        """On stop: publish what is left, within the drain timeout."""
        deadline = time.monotonic() + self._drain_timeout_s
        while time.monotonic() < deadline:
            self._forward_once(outbox)
            if not self._inflight and (
                outbox.depth() == 0 or not self._publisher.connected.is_set()
            ):
                return
            time.sleep(0.05)

    def _forward_once(self, outbox: Outbox) -> None:
        self._store_measurements(outbox)
        self._settle_acks(outbox)
        self._publish_backlog(outbox)
        with self._stats_lock:
            self._stats.outbox_depth = outbox.depth()

    def _store_measurements(self, outbox: Outbox) -> None:
        """Commit what the pollers measured; on a disk error keep it in memory, bounded."""
        while True:
            try:
                batch = self._measurements.get_nowait()
            except queue.Empty:
                break
            self._pending.extend(
                (
                    m.device_id,
                    m.quantity,
                    m.value,
                    QUANTITIES[m.quantity].unit,
                    m.wall_ms,
                    classify(m.quantity, m.value),
                )
                for m in batch
            )
            with self._stats_lock:
                self._stats.readings_measured += len(batch)
        if len(self._pending) > MAX_PENDING:
            dropped = len(self._pending) - MAX_PENDING
            del self._pending[:dropped]
            log.error(
                "outbox unwritable for long: oldest readings in memory dropped",
                extra={"gateway_id": self.gateway_id, "dropped": dropped},
            )
            with self._stats_lock:
                self._stats.readings_dropped += dropped
        if self._pending:
            outbox.put(self._pending)
            self._pending = []

    def _settle_acks(self, outbox: Outbox) -> None:
        while True:
            try:
                ack = self._publisher.acks.get_nowait()
            except queue.Empty:
                return
            seqs = self._inflight.pop(ack.mid, None)
            if seqs is None:
                continue  # the "online" status message, not a batch
            if ack.accepted:
                outbox.done(seqs)
                with self._stats_lock:
                    self._stats.readings_sent += len(seqs)
                    self._stats.batches_sent += 1
            else:
                # Kept in the outbox: re-sent after a restart, once the ACL is fixed.
                log.error(
                    "broker refused a batch",
                    extra={"gateway_id": self.gateway_id, "reason": ack.reason},
                )
                with self._stats_lock:
                    self._stats.batches_refused += 1

    def _publish_backlog(self, outbox: Outbox) -> None:
        settings = self.config.publish
        while len(self._inflight) < settings.max_inflight_batches:
            readings = outbox.take(settings.batch_size, after_seq=self._cursor)
            if not readings:
                return
            mid = self._publisher.publish(encode_batch(self.gateway_id, readings))
            if mid is None:
                return
            self._inflight[mid] = [r.seq for r in readings]
            self._cursor = readings[-1].seq
