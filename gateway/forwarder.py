"""The forwarding loop: measurements into the outbox, the outbox out over MQTT.

One thread owns the outbox. Each round it

1. commits what the pollers measured, stamping each reading with its true time when the clock
   is trusted (from the monotonic clock, so a clock that jumped between the read and now does
   not shift it) or leaving the time open until it is;
2. gives readings that waited for the clock their time once the clock is trusted;
3. settles the answers: a batch the broker took waits for ingest's end-to-end ack, and each
   reading ingest confirms is deleted; a refused batch, one on a lost connection, or one ingest
   has not confirmed in time goes back to the queue (re-sent readings overwrite themselves in
   InfluxDB). The server's time in each ack sets the clock;
4. publishes, fresh readings first and then the backlog oldest-first in larger batches, with a
   bounded number of batches in flight so a long backlog stays on disk, not in memory;
5. keeps the outbox under its size limit.
"""

from __future__ import annotations

import itertools
import logging
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.clock import Clock
from gateway.config import GatewayConfig
from gateway.drivers.base import Measurement
from gateway.outbox import Outbox, OutboxRow
from gateway.publisher import Confirmed, ConnectionLost, LinkEvent, MqttPublisher, PublishAck
from gateway.validation import Validator
from telemetry.codec import encode_batch

log = logging.getLogger(__name__)

# Readings of one series less than this apart came in one read: kept apart by a millisecond.
SAME_POLL_MS = 1000
# Readings held in memory while the outbox cannot be written (about 100 bytes each).
MAX_PENDING = 100_000


@dataclass(slots=True)
class ForwarderStats:
    """Counters of the forwarding loop."""

    readings_measured: int = 0
    readings_sent: int = 0  # confirmed by ingest (by the broker with confirm = "broker")
    readings_thinned: int = 0
    readings_dropped: int = 0
    readings_rebased: int = 0
    readings_time_flagged: int = 0
    batches_sent: int = 0
    batches_refused: int = 0
    batches_resent_unconfirmed: int = 0
    bytes_published: int = 0
    outbox_depth: int = 0
    outbox_bytes: int = 0
    wal_bytes: int = 0
    waiting_for_clock: int = 0


@dataclass(slots=True)
class _Batch:
    batch_id: int
    readings: int
    backlog: bool
    unconfirmed: set[int]  # sequence numbers ingest has not confirmed yet
    deadline: float = 0.0  # monotonic s by which ingest should have confirmed them


@dataclass(slots=True)
class Forwarder:
    """Moves readings from the pollers' queue through the outbox to the publisher."""

    config: GatewayConfig
    outbox: Outbox
    publisher: MqttPublisher
    clock: Clock
    measurements: queue.SimpleQueue[list[Measurement]]
    on_stats: Callable[[ForwarderStats], None]
    validator: Validator = field(default_factory=Validator)
    stats: ForwarderStats = field(default_factory=ForwarderStats)
    _pending: list[OutboxRow] = field(default_factory=list)
    _inflight: dict[int, _Batch] = field(default_factory=dict)
    _unconfirmed: dict[int, _Batch] = field(default_factory=dict)
    _retry: LinkEvent | None = None
    _last_time: dict[tuple[str, str], int] = field(default_factory=dict)
    _ack_timeout_s: float = 0.0
    _confirmed_since_timeout: bool = True
    _clock_floor_at: int = 0
    _batch_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _live_from: int = 0
    _clock_trusted: bool = False
    _backlog_done: bool = False

    def __post_init__(self) -> None:
        # What is in the outbox at start is backlog; what comes after is fresh.
        self._live_from = self.outbox.max_seq()
        self._ack_timeout_s = self.config.publish.ack_timeout_s
        newest = self.outbox.newest_time_ms()
        if newest is not None:
            self.clock.raise_floor(newest)
        flagged = self.outbox.flag_earlier_boots(self.clock.boot_id)
        if flagged:
            log.warning(
                "readings of an earlier boot never got a trusted time: sent with their "
                "clock's guess and flagged",
                extra={"gateway_id": self.outbox.gateway_id, "readings": flagged},
            )
        self.stats.readings_time_flagged += flagged

    def tick(self, publish_fresh: bool) -> bool:
        """One pass of the loop (see the module docstring); whether measurements were committed.

        Measurements are committed and acknowledgements settled on every tick; fresh readings
        are published only when ``publish_fresh`` (every publish interval: batching them is
        what keeps uplink bytes down), while the backlog goes out as fast as it is acknowledged.
        """
        trusted = self.clock.state().trusted
        committed = changed = self._store(trusted)
        if trusted and not self._clock_trusted:
            self._rebase()
            changed = True
        self._clock_trusted = trusted
        changed |= self._settle()
        changed |= self._resend_unconfirmed()
        if publish_fresh:
            self._publish_fresh()
            changed = True
        changed |= self._publish_backlog()
        if changed:
            self.stats.readings_thinned += self.outbox.enforce_limit(self.config.outbox.max_bytes)
            self.stats.outbox_depth = self.outbox.depth()
            self.stats.outbox_bytes = self.outbox.size_bytes()
            self.stats.wal_bytes = self.outbox.wal_bytes()
            self.stats.waiting_for_clock = self.outbox.waiting_for_clock()
            self.on_stats(self.stats)
        return committed

    def _inflight_backlog(self) -> bool:
        return any(b.backlog for b in (*self._inflight.values(), *self._unconfirmed.values()))

    @property
    def idle(self) -> bool:
        """Nothing in flight, nothing awaiting confirmation and nothing waiting in memory."""
        return not self._inflight and not self._unconfirmed and not self._pending

    def _store(self, trusted: bool) -> bool:
        wall_now, mono_now = self.clock.stamp()
        while True:
            try:
                batch = self.measurements.get_nowait()
            except queue.Empty:
                break
            for m in batch:
                time_ms = wall_now - (mono_now - m.mono_ns) // 1_000_000 if trusted else None
                if time_ms is not None:
                    time_ms = self._distinct_time(m.device_id, m.quantity, time_ms)
                self._pending.append(
                    OutboxRow(
                        m.device_id,
                        m.quantity,
                        m.value,
                        self.validator.classify(m.device_id, m.quantity, m.value, m.mono_ns),
                        time_ms,
                        m.wall_ms,
                        m.mono_ns,
                        self.clock.boot_id,
                    )
                )
            self.stats.readings_measured += len(batch)
        if len(self._pending) > MAX_PENDING:
            dropped = len(self._pending) - MAX_PENDING
            del self._pending[:dropped]
            self.stats.readings_dropped += dropped
            log.error(
                "outbox unwritable for long: oldest readings in memory dropped",
                extra={"gateway_id": self.outbox.gateway_id, "dropped": dropped},
            )
        if not self._pending:
            return False
        self.outbox.put(self._pending)
        times = [r.time_ms for r in self._pending if r.time_ms is not None]
        if times:
            self.clock.raise_floor(max(times))
        self._pending = []
        return True

    def _distinct_time(self, device_id: str, quantity: str, time_ms: int) -> int:
        """InfluxDB keeps one point per series and time: a second reading of a series in the
        same millisecond (lines of a station read at once) would overwrite the first, silently,
        after both were confirmed. Such a reading gets the next free millisecond. A time well
        before the last (the clock stepped back) is left alone rather than squeezed."""
        key = (device_id, quantity)
        last = self._last_time.get(key)
        if last is not None and last - SAME_POLL_MS < time_ms <= last:
            time_ms = last + 1
        self._last_time[key] = time_ms
        return time_ms

    def _rebase(self) -> None:
        wall_now, mono_now = self.clock.stamp()
        rebased = self.outbox.rebase(self.clock.boot_id, wall_now, mono_now)
        if rebased:
            self._backlog_done = False
            self.stats.readings_rebased += rebased
            log.info(
                "clock trusted: readings that waited for it got their true time",
                extra={"gateway_id": self.outbox.gateway_id, "readings": rebased},
            )

    def _settle(self) -> bool:
        settled = False
        while True:
            if self._retry is not None:
                event = self._retry
            else:
                try:
                    event = self.publisher.events.get_nowait()
                except queue.Empty:
                    return settled
            # An outbox that fails mid-event (disk full) raises out of the tick: the same event
            # is handled again next tick, so no ack is lost. Each handler is safe to repeat.
            self._retry = event
            settled = True
            if isinstance(event, ConnectionLost):
                self._connection_lost()
            elif isinstance(event, Confirmed):
                self._confirmed(event)
            else:
                self._broker_answered(event)
            self._retry = None

    def _broker_answered(self, event: PublishAck) -> None:
        batch = self._inflight.get(event.mid)
        if batch is None:
            return  # the "online" status message, or health
        if not event.accepted:
            self.outbox.requeue(batch.batch_id)
            self._backlog_done = False
            self.stats.batches_refused += 1
            log.error(
                "broker refused a batch (check the gateway's ACL entry)",
                extra={"gateway_id": self.outbox.gateway_id, "reason": event.reason},
            )
        elif self.config.publish.confirm == "broker":
            self.outbox.done(batch.batch_id)
            self._sent(batch)
        elif batch.unconfirmed:
            batch.deadline = time.monotonic() + self._ack_timeout_s
            self._unconfirmed[batch.batch_id] = batch
        else:
            self._sent(batch)  # ingest's ack overtook the broker's
        del self._inflight[event.mid]

    def _connection_lost(self) -> None:
        # Unconfirmed batches go back too: they may sit in a dead worker's session, and a
        # fresh connection is the moment to send them again.
        for batch in (*self._inflight.values(), *self._unconfirmed.values()):
            self.outbox.requeue(batch.batch_id)
        self._inflight.clear()
        self._unconfirmed.clear()
        # What is left now is backlog for the next connection, fresh readings after it.
        self._live_from = self.outbox.max_seq()
        self._backlog_done = False

    def _confirmed(self, event: Confirmed) -> None:
        self.clock.observe_server_time(event.ack.server_time_ms, event.mono_ns)
        if not event.ack.ranges:
            return  # the time alone (an answer to our "online")
        self.outbox.confirm(event.ack.ranges)
        if not self._confirmed_since_timeout:
            log.info(
                "ingest confirms readings again",
                extra={"gateway_id": self.outbox.gateway_id},
            )
        self._confirmed_since_timeout = True
        self._ack_timeout_s = self.config.publish.ack_timeout_s
        for batches in (self._unconfirmed, self._inflight):
            for key, batch in list(batches.items()):
                for first, last in event.ack.ranges:
                    batch.unconfirmed.difference_update(range(first, last + 1))
                if not batch.unconfirmed and batches is self._unconfirmed:
                    del batches[key]
                    self._sent(batch)

    def _sent(self, batch: _Batch) -> None:
        self.stats.readings_sent += batch.readings
        self.stats.batches_sent += 1

    def _resend_unconfirmed(self) -> bool:
        """Requeue batches ingest did not confirm in time; back off while nothing is confirmed."""
        now = time.monotonic()
        expired = [b for b in self._unconfirmed.values() if b.deadline <= now]
        if not expired:
            return False
        for batch in expired:
            del self._unconfirmed[batch.batch_id]
            self.outbox.requeue(batch.batch_id)
        self.stats.batches_resent_unconfirmed += len(expired)
        self._backlog_done = False
        if self._confirmed_since_timeout:
            log.warning(
                "ingest has not confirmed readings in time: sending them again",
                extra={
                    "gateway_id": self.outbox.gateway_id,
                    "batches": len(expired),
                    "timeout_s": self._ack_timeout_s,
                },
            )
        self._confirmed_since_timeout = False
        # Ingest or InfluxDB is down, or the uplink drops acks: wait longer before the next
        # try, so a long outage does not cost a prepaid SIM a re-send every half minute.
        self._ack_timeout_s = min(2 * self._ack_timeout_s, self.config.publish.ack_timeout_max_s)
        return True

    def _publish_fresh(self) -> None:
        """Everything fresh, in as many batches as it takes (and in-flight slots allow)."""
        while self._publish_from(
            self.config.publish.batch_size, after_seq=self._live_from, up_to=None, backlog=False
        ):
            pass

    def _publish_backlog(self) -> bool:
        """Fill the free in-flight slots with backlog, oldest first; whether any went out."""
        published = False
        while self._publish_from(
            self.config.publish.backlog_batch_size, after_seq=0, up_to=self._live_from, backlog=True
        ):
            published = True
        return published

    def _publish_from(self, limit: int, after_seq: int, up_to: int | None, backlog: bool) -> bool:
        if backlog and self._backlog_done:
            return False
        if len(self._inflight) >= self.config.publish.max_inflight_batches:
            return False
        if (
            len(self._inflight) + len(self._unconfirmed)
            >= self.config.publish.max_unconfirmed_batches
        ):
            return False
        if not self.publisher.connected.is_set():
            return False
        batch_id = next(self._batch_ids)
        readings = self.outbox.take(batch_id, limit, after_seq=after_seq, up_to_seq=up_to)
        if not readings:
            # Nothing left below the fresh mark: later ticks need not ask until it moves.
            if backlog:
                self._backlog_done = not self._inflight_backlog()
            return False
        payload = encode_batch(self.outbox.gateway_id, readings, self.config.publish.payload_format)
        mid = self.publisher.publish_batch(payload)
        if mid is None:
            self.outbox.requeue(batch_id)
            return False
        self._inflight[mid] = _Batch(batch_id, len(readings), backlog, {r.seq for r in readings})
        self.stats.bytes_published += len(payload)
        return True
