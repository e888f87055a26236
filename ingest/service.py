"""The ingest service: decode, place, write in batches, then acknowledge.

A decoder thread takes messages in arrival order, turns them into line protocol and hands
numbered batches to a few writer threads; a batch is acknowledged only after it, and every batch
received before it, was written, retrying with backoff while InfluxDB is unavailable. A message
that can never be written (malformed, forged, refused by InfluxDB) becomes a dead letter and is
acknowledged, so it cannot block the queue. After each write the newest reading of every
series in it goes to the last-value store (``storage.last_values``), which the API reads for
latest conditions. A rollup thread keeps hourly and daily rollups current.
"""

from __future__ import annotations

import itertools
import logging
import queue
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from ingest.acks import AckGatherer
from ingest.config import IngestConfig
from ingest.consumer import InboundMessage, MqttConsumer
from ingest.deadletters import DeadLetters
from ingest.lines import LineMaker, newest_of
from ingest.metrics import IngestMetrics
from ingest.quarantine import Quarantine, replay_registered
from ingest.sequences import DuplicateCounter, SequenceAudit, audit
from ingest.validation import enforce_physical_limits
from registry.store import DevicePlacement, Registry
from storage.influx import InfluxError, InfluxMisconfigured, InfluxRejected, InfluxUnavailable
from storage.last_values import (
    Key,
    LastValues,
    LastValuesError,
    Newest,
    default_url,
    keep_newest,
    seed_from_influx,
)
from storage.rollups import Rollup, StorageLayout
from storage.schema import HealthError, health_lines, reading_line
from storage.writers import InfluxWriter
from telemetry.codec import (
    ForgedPayloadError,
    PayloadError,
    RejectedRow,
    decode_batch,
    decode_rows,
    is_binary,
)
from telemetry.reading import Reading
from telemetry.topics import HEALTH, STATUS, TopicError, parse_topic

log = logging.getLogger(__name__)

# The last-value store is written at most this often per worker, with the newest reading of
# every series written since: a few statements a second whatever the rate (one per batch cost
# ingest an eighth of its CPU), and the store stays well within a second of InfluxDB.
LAST_VALUES_EVERY_S = 0.25


@dataclass(slots=True)
class IngestStats:
    """Counters ingest reports about itself."""

    messages_received: int = 0
    messages_acked: int = 0
    readings_written: int = 0
    batches_written: int = 0
    readings_rejected: int = 0
    readings_impossible: int = 0
    readings_held: int = 0
    readings_confirmed: int = 0
    internal_errors: int = 0
    duplicate_readings: int = 0
    dead_letters: int = 0
    write_retries: int = 0
    last_values_failures: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Decoded:
    """One batch message decoded: its lines, and what its handling needs besides."""

    lines: list[str]
    settled: list[int]  # sequence numbers of its valid rows (stored or held)
    stored: list[int]  # those of them written to InfluxDB
    rejected: list[RejectedRow]
    impossible: int  # values stored as bad: no sensor can report them
    oldest_ms: int | None  # the oldest trusted time written (for the rollups)
    newest: dict[Key, Newest]  # the newest reading of each placed series (last-value store)


@dataclass(slots=True)
class _Handled:
    message: InboundMessage
    lines: list[str]
    readings: int = 0
    oldest_ms: int | None = None
    # The gateway whose readings these are, and their sequence numbers: confirmed to it once
    # the message is settled (written, or set aside as a dead letter).
    gateway_id: str | None = None
    settled: list[int] = field(default_factory=list)
    newest: dict[Key, Newest] = field(default_factory=dict)


def open_writer(config: IngestConfig) -> InfluxWriter:
    """The InfluxDB writer of an ingest configuration (any InfluxDB: it asks /ping which API)."""
    influx = config.influx
    return InfluxWriter(
        influx.url,
        influx.database,
        username=influx.username,
        password=influx.password,
        token=influx.token,
        org=influx.org,
        bucket=influx.bucket,
        layout=StorageLayout(
            raw_retention=influx.retention,
            rollup_retention=influx.rollup_retention,
            utc_offset_h=influx.utc_offset_h,
        ),
    )


def replay_quarantine(config: IngestConfig) -> dict[str, int]:
    """Write the held readings of devices registered since, with their tags (see quarantine)."""
    registry = Registry(config.registry_url)
    quarantine = Quarantine(config.quarantine_path)
    writer = open_writer(config)
    last_values = LastValues(config.last_values_url or default_url(config.registry_url))
    try:
        placements = registry.placements()

        def write(readings: list[Reading]) -> None:
            lines = [reading_line(r, placements.get((r.gateway_id, r.device_id))) for r in readings]
            writer.write_lines(lines)
            last_values.record(newest_of(readings, placements))

        return replay_registered(quarantine, registry.devices(), write)
    finally:
        writer.close()
        last_values.close()
        quarantine.close()
        registry.close()


class Ingest:
    """A running ingest worker."""

    def __init__(self, config: IngestConfig) -> None:
        self.config = config
        self._consumer = MqttConsumer(config.mqtt)
        self._influx = open_writer(config)
        self._registry = Registry(config.registry_url)
        self._deadletters = DeadLetters(config.deadletters_path)
        self._quarantine = Quarantine(config.quarantine_path)
        self._placements: dict[tuple[str, str], DevicePlacement] = {}
        # None until the registry was read once: nothing is held for want of a registry.
        self._devices: set[tuple[str, str]] | None = None
        self._placements_at = float("-inf")
        self._stats = IngestStats()
        self._reasons: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        # Decoding overlaps with writing, and several writes are in flight at once (InfluxDB
        # takes concurrent writes faster than one after the other); acks still go in order.
        writers = config.batch.writers
        # A batch goes to a writer only when one waits for it (see _hand_over), so this queue
        # never holds more than one batch per writer.
        self._ready: queue.SimpleQueue[tuple[int, list[_Handled]]] = queue.SimpleQueue()
        self._idle_writers = threading.Semaphore(0)
        self._decoder = threading.Thread(target=self._decode, name="ingest-decoder", daemon=True)
        self._writers = [
            threading.Thread(target=self._run, name=f"ingest-writer-{n}", daemon=True)
            for n in range(writers)
        ]
        self._ack_lock = threading.Lock()
        self._written: dict[int, tuple[list[_Handled], list[_Handled]]] = {}
        self._next_ack = 0
        self._progress_at = time.monotonic()
        self._last_values = LastValues(config.last_values_url or default_url(config.registry_url))
        self._unrecorded: dict[Key, Newest] = {}  # written to InfluxDB, not yet to the store
        self._recorded_at = float("-inf")
        self._rollup = Rollup(self._influx, self._influx.layout)
        self._rollup_since: int | None = None
        self._rollups = threading.Thread(target=self._roll_up, name="ingest-rollups", daemon=True)
        self._acks = AckGatherer(
            self._consumer.confirm, config.acks.delay_s, config.acks.max_pending
        )
        self._impossible_logged: dict[str, float] = {}
        self._held_devices: set[str] = set()
        self._duplicates = DuplicateCounter()
        self._audits: dict[str, SequenceAudit] = {}
        self._audit_at = float("-inf")
        self.metrics = IngestMetrics(self.stats, lambda: self._audits, self.backlog)

    def start(self) -> None:
        """Connect to the broker, start writing, serve /metrics if configured."""
        if self.config.metrics_port is not None:
            port = self.metrics.serve(
                self.config.metrics_host, self.config.metrics_port, health=self.health
            )
            log.info(
                "metrics served", extra={"url": f"http://{self.config.metrics_host}:{port}/metrics"}
            )
        self._consumer.start()
        self._decoder.start()
        for writer in self._writers:
            writer.start()
        if self.config.rollup_every_s:
            self._rollups.start()
        threading.Thread(target=self._seed_last_values, name="ingest-seed", daemon=True).start()

    def _seed_last_values(self) -> None:
        """Fill a new (or lost) last-value store from InfluxDB, so latest conditions are quick
        from the start; until then the API asks InfluxDB itself."""
        try:
            if not self._last_values.is_empty():
                return
            rows = seed_from_influx(self._last_values, self._influx)
            log.info("last-value store filled from InfluxDB", extra={"series": rows})
        except (InfluxError, LastValuesError) as exc:
            log.warning(f"last-value store not filled from InfluxDB (new readings fill it): {exc}")

    def backlog(self) -> tuple[int, float]:
        """Messages received and not yet acknowledged, and for how many seconds nothing was
        acknowledged while some waited (0 when none wait)."""
        waiting = self._consumer.received - self.stats().messages_acked
        now = time.monotonic()
        if waiting <= 0:
            self._progress_at = now
            return 0, 0.0
        return waiting, now - self._progress_at

    def health(self) -> tuple[bool, dict[str, object]]:
        """Whether this worker does its work: connected, threads alive, backlog moving."""
        waiting, stalled_s = self.backlog()
        problems = []
        if not self._consumer.connected.is_set():
            problems.append("not connected to the MQTT broker")
        dead = [t.name for t in (self._decoder, *self._writers) if not t.is_alive()]
        if dead and not self._stopping.is_set():
            problems.append(f"threads not running: {', '.join(dead)}")
        if stalled_s > self.config.stall_after_s:
            problems.append(
                f"{waiting} messages unacknowledged, none acknowledged for {stalled_s:.0f} s "
                "(is InfluxDB reachable?)"
            )
        return not problems, {
            "problems": problems,
            "backlog_messages": waiting,
            "stalled_s": round(stalled_s, 1),
        }

    def wait_subscribed(self, timeout_s: float) -> bool:
        """Whether the broker confirmed ingest's subscriptions within ``timeout_s``."""
        return self._consumer.subscribed.wait(timeout_s)

    def stop(self, drain_timeout_s: float = 15.0) -> None:
        """Stop cleanly.

        A lone worker finishes the batch in hand and disconnects; what it has not written stays
        in its persistent session at the broker until it returns. A worker of a shared group
        hands its share to the others: it unsubscribes, writes and acknowledges what it already
        received, and ends its session, since Mosquitto otherwise keeps setting aside a share
        for it while it is away. (Stopping the last worker of a group this way leaves nobody
        subscribed: stop the group's workers one at a time and keep one running.)
        """
        shared = self.config.mqtt.shared_group is not None
        if shared and self._decoder.is_alive():
            self._consumer.unsubscribe()
            self._wait_drained(drain_timeout_s)
        self._stopping.set()
        self._decoder.join()
        for writer in self._writers:
            writer.join()
        if self._rollups.is_alive():
            self._rollups.join()
        self._acks.flush_all()
        self._record_last_values(due_only=False)
        self._consumer.stop(end_session=shared)
        self.metrics.close()
        self._influx.close()
        self._last_values.close()
        self._deadletters.close()
        self._quarantine.close()
        self._registry.close()

    def _wait_drained(self, timeout_s: float) -> None:
        """Until everything received is acknowledged and nothing new came for a moment."""
        deadline = time.monotonic() + timeout_s
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            stats = self.stats()
            if (
                stats.messages_received != stats.messages_acked
                or not self._consumer.messages.empty()
            ):
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > 0.5:
                return
            time.sleep(0.05)
        log.warning("stopping with messages not yet written; the broker keeps them")

    def stats(self) -> IngestStats:
        """A copy of the counters."""
        with self._lock:
            return replace(self._stats, rejected_by_reason=dict(self._reasons))

    def _decode(self) -> None:
        """Collect and decode batches, handing each, numbered, to the writers."""
        if self.config.influx.create and not self._until_written(self._influx.ensure_database):
            return
        for number in itertools.count():
            batch: list[_Handled] = []
            while not batch:
                if self._stopping.is_set():
                    return
                self._audit_sequences()
                self._acks.flush_due()
                self._record_last_values(due_only=True)
                batch = self._collect()
            if not self._hand_over(number, batch):
                return

    def _hand_over(self, number: int, batch: list[_Handled]) -> bool:
        """Give a batch to the first writer free; False if stopping first.

        While every writer is busy the batch takes in the messages that arrive meanwhile, up
        to ``max_readings`` and for at most ``max_delay_s``: when InfluxDB is the bottleneck it
        gets fewer, larger writes (it stores those with less work per point), and nothing
        waits longer than it would anyway.
        """
        settings = self.config.batch
        size = sum(len(handled.lines) for handled in batch)
        deadline = time.monotonic() + settings.max_delay_s
        while not self._stopping.is_set():
            growing = size < settings.max_readings and time.monotonic() < deadline
            if self._idle_writers.acquire(timeout=0.002 if growing else 0.2):
                self._ready.put((number, batch))
                return True
            while growing and size < settings.max_readings:
                try:
                    message = self._consumer.messages.get_nowait()
                except queue.Empty:
                    break
                batch.append(self._handle(message))
                size += len(batch[-1].lines)
        return False

    def _run(self) -> None:
        """Write batches; each is acknowledged once it and every batch before it are written."""
        waiting = False
        while not self._stopping.is_set():
            if not waiting:
                self._idle_writers.release()  # once per batch this writer will take
                waiting = True
            try:
                number, batch = self._ready.get(timeout=0.2)
            except queue.Empty:
                continue
            waiting = False
            lines = [line for handled in batch for line in handled.lines]
            try:
                with self.metrics.write_seconds.time():
                    complete = self._until_written(self._influx.write_lines, lines)
                written = [h for h in batch if h.lines] if complete else []
            except InfluxRejected:
                complete, written = self._write_one_by_one(batch)
            if not complete:
                return  # stopping: the broker redelivers the unacknowledged messages later
            self._keep_last_values(written)
            self._acknowledge_in_order(number, batch, written)

    def _keep_last_values(self, written: list[_Handled]) -> None:
        """Note the newest reading of each series just written, for the last-value store."""
        with self._lock:
            unrecorded = self._unrecorded
            for handled in written:
                for key, (time_ms, value, quality) in handled.newest.items():
                    keep_newest(unrecorded, key, time_ms, value, quality)
        self._record_last_values(due_only=True)

    def _record_last_values(self, due_only: bool) -> None:
        """Write what was noted to the last-value store (if ``due_only``: only when
        ``LAST_VALUES_EVERY_S`` passed since the last time; the decoder's idle loop calls this
        too, so the last batch of a burst is recorded as well).

        The readings are in InfluxDB already: a store that cannot be written is logged and
        counted (the API then shows older latest values) but never holds back the acks; what
        it missed is offered again next time.
        """
        now = time.monotonic()
        with self._lock:
            if not self._unrecorded or (due_only and now - self._recorded_at < LAST_VALUES_EVERY_S):
                return
            newest, self._unrecorded = self._unrecorded, {}
            self._recorded_at = now
        try:
            self._last_values.record(newest)
        except LastValuesError as exc:
            with self._lock:
                self._stats.last_values_failures += 1
                for key, (time_ms, value, quality) in newest.items():
                    keep_newest(self._unrecorded, key, time_ms, value, quality)
            log.error(f"{exc}; latest conditions show older values until it works again")

    def _acknowledge_in_order(
        self, number: int, batch: list[_Handled], written: list[_Handled]
    ) -> None:
        """Ack batches in the order they were received (MQTT wants PUBACKs in order); a batch
        that never gets written (stopping) holds back every later one."""
        with self._ack_lock:
            self._written[number] = (batch, written)
            while self._next_ack in self._written:
                batch, written = self._written.pop(self._next_ack)
                self._next_ack += 1
                self._progress_at = time.monotonic()
                for handled in batch:
                    self._consumer.ack(handled.message)
                confirmed = self._confirm(batch)
                oldest = [h.oldest_ms for h in written if h.oldest_ms is not None]
                with self._lock:
                    self._stats.messages_acked += len(batch)
                    self._stats.readings_written += sum(h.readings for h in written)
                    self._stats.batches_written += 1
                    self._stats.readings_confirmed += confirmed
                    if oldest:
                        since = min(oldest)
                        self._rollup_since = min(since, self._rollup_since or since)

    def _confirm(self, batch: list[_Handled]) -> int:
        """End-to-end acks: each gateway learns which of its readings are settled."""
        confirmed = 0
        for handled in batch:
            if handled.gateway_id is not None and handled.settled:
                self._acks.add(handled.gateway_id, handled.settled)
                confirmed += len(handled.settled)
        return confirmed

    def _roll_up(self) -> None:
        """Keep the hourly and daily rollups up to date, including for late (replayed) data."""
        every = self.config.rollup_every_s or 0
        while not self._stopping.wait(every):
            with self._lock:
                since, self._rollup_since = self._rollup_since, None
            try:
                self._rollup.run_once(time.time_ns() // 1_000_000, since)
            except InfluxError as exc:
                log.warning(f"rollups not updated, retrying next round: {exc}")
                with self._lock:
                    if since is not None:
                        self._rollup_since = min(since, self._rollup_since or since)

    def _audit_sequences(self) -> None:
        now = time.monotonic()
        if now - self._audit_at < self.config.gap_audit_s:
            return
        self._audit_at = now
        try:
            self._audits = audit(self._influx, self.config.gap_window_h)
        except InfluxError as exc:
            log.warning(f"sequence audit skipped: {exc}")

    def _collect(self) -> list[_Handled]:
        """The messages waiting now, up to a full batch or ``max_delay_s`` of decoding.

        A batch is written as soon as the inbound queue runs dry: at a low rate each message
        goes to InfluxDB at once (low latency), at a high rate messages pile up while the
        writers are busy and the next batch takes them all (large writes). ``max_delay_s`` only
        caps how long a stream that never runs dry is gathered.
        """
        settings = self.config.batch
        try:
            first = self._consumer.messages.get(timeout=0.2)
        except queue.Empty:
            return []
        deadline = time.monotonic() + settings.max_delay_s
        batch = [self._handle(first)]
        size = len(batch[0].lines)
        while size < settings.max_readings and time.monotonic() < deadline:
            try:
                message = self._consumer.messages.get_nowait()
            except queue.Empty:
                break
            batch.append(self._handle(message))
            size += len(batch[-1].lines)
        return batch

    def _handle(self, message: InboundMessage) -> _Handled:
        """Turn one message into line protocol; set aside what cannot be written.

        Whatever the bytes, the result is a handled message: an error nobody foresaw is logged
        with its traceback and the message becomes a dead letter, so one message can never stop
        the decoder (and, redelivered after a restart, stop it again).
        """
        with self._lock:
            self._stats.messages_received += 1
        try:
            return self._handle_message(message)
        except Exception as exc:  # the poison-proof net, see the docstring
            log.exception(
                "unexpected error handling a message; set aside as a dead letter",
                extra={"topic": message.topic},
            )
            with self._lock:
                self._stats.internal_errors += 1
            return self._dead(message, "internal_error", f"{type(exc).__name__}: {exc}"[:500])

    def _handle_message(self, message: InboundMessage) -> _Handled:
        try:
            topic = parse_topic(message.topic)
        except TopicError as exc:
            return self._dead(message, "bad_topic", str(exc))
        if topic.kind == STATUS:
            log.info(
                "gateway status",
                extra={
                    "gateway_id": topic.gateway_id,
                    "status": message.payload[:200].decode(errors="replace"),
                },
            )
            # An ack with no readings still tells a gateway that just connected the time.
            self._consumer.confirm(topic.gateway_id, [], time.time_ns() // 1_000_000)
            return _Handled(message, [])
        if topic.kind == HEALTH:
            try:
                return _Handled(message, health_lines(topic.gateway_id, message.payload))
            except HealthError as exc:
                return self._dead(message, "malformed_health", str(exc), topic.gateway_id)
        try:
            decoded = self._lines_of(message.payload, topic.gateway_id)
        except ForgedPayloadError as exc:
            # The broker ACL should have refused this; never trust a payload's own claim.
            return self._dead(message, "forged_gateway", str(exc), topic.gateway_id)
        except PayloadError as exc:
            return self._dead(message, "malformed_payload", str(exc), topic.gateway_id)
        settled = list(decoded.settled)
        if decoded.rejected:
            detail = "; ".join(f"row {r.index}: {r.reason}" for r in decoded.rejected[:20])
            self._dead(message, "invalid_readings", detail, topic.gateway_id)
            settled.extend(r.seq for r in decoded.rejected if r.seq is not None)
            with self._lock:
                self._stats.readings_rejected += len(decoded.rejected)
        if decoded.impossible:
            with self._lock:
                self._stats.readings_impossible += decoded.impossible
            # A broken sensor sends them with every message: say so once per gateway, and
            # again only after an hour (the counter in the metrics keeps the whole count).
            now = time.monotonic()
            if now - self._impossible_logged.get(topic.gateway_id, -3600.0) >= 3600:
                self._impossible_logged[topic.gateway_id] = now
                log.warning(
                    "physically impossible values stored as bad (a sensor or its gateway "
                    "misreports; counted in tani_ingest_readings_impossible)",
                    extra={"gateway_id": topic.gateway_id, "readings": decoded.impossible},
                )
        duplicates = self._duplicates.count(topic.gateway_id, decoded.stored)
        if duplicates:
            with self._lock:
                self._stats.duplicate_readings += duplicates
        return _Handled(
            message,
            decoded.lines,
            len(decoded.lines),
            decoded.oldest_ms,
            topic.gateway_id,
            settled,
            decoded.newest,
        )

    def _lines_of(self, payload: bytes, gateway_id: str) -> _Decoded:
        """A batch's lines and what its handling needs. A binary batch of registered devices
        goes straight to line protocol (``ingest.lines``); any other takes the general way,
        through Readings, which also holds unregistered devices' readings in the quarantine.
        Raises ``PayloadError`` for a payload that cannot be read."""
        placements = self._current_placements()
        known = None if self.config.unknown_devices == "store" else self._devices
        if is_binary(payload):
            maker = LineMaker(placements, known)
            lines, rejected = decode_rows(payload, gateway_id, maker)
            if not maker.unknown:
                seqs = maker.seqs
                return _Decoded(
                    lines, seqs, seqs, rejected, maker.impossible, maker.oldest_ms, maker.newest
                )
        batch = decode_batch(payload, gateway_id)
        readings, impossible = enforce_physical_limits(batch.readings)
        settled = [r.seq for r in readings]
        readings = self._hold_unknown(gateway_id, readings)
        lines = [reading_line(r, placements.get((r.gateway_id, r.device_id))) for r in readings]
        times = [r.time_ms for r in readings if r.time_trusted]
        return _Decoded(
            lines,
            settled,
            [r.seq for r in readings],
            batch.rejected,
            impossible,
            min(times) if times else None,
            newest_of(readings, placements),
        )

    def _dead(
        self, message: InboundMessage, reason: str, detail: str, gateway_id: str | None = None
    ) -> _Handled:
        log.warning(
            f"message set aside as dead letter: {detail}",
            extra={"gateway_id": gateway_id, "topic": message.topic, "reason": reason},
        )
        try:
            self._deadletters.add(message.topic, reason, detail, message.payload)
        except sqlite3.Error as exc:
            # The refusal is still counted and logged above; only the stored copy is missing.
            log.error(f"dead letter not stored: {exc}", extra={"topic": message.topic})
        with self._lock:
            self._stats.dead_letters += 1
            self._reasons[reason] += 1
        return _Handled(message, [])

    def _hold_unknown(self, gateway_id: str, readings: list[Reading]) -> list[Reading]:
        """Readings of registered devices; the others go to the quarantine (see there)."""
        known = self._devices
        if self.config.unknown_devices == "store" or known is None:
            return readings
        unknown = [r for r in readings if (r.gateway_id, r.device_id) not in known]
        if not unknown:
            return readings
        self._quarantine.hold(unknown)
        devices = sorted({r.device_id for r in unknown})
        with self._lock:
            self._stats.readings_held += len(unknown)
            first = {f"{gateway_id}/{d}" for d in devices} - self._held_devices
            self._held_devices |= first
        if first:
            log.warning(
                "readings of an unregistered device held in the quarantine: register it, then "
                "run tani quarantine replay",
                extra={"gateway_id": gateway_id, "devices": devices},
            )
        return [r for r in readings if (r.gateway_id, r.device_id) in known]

    def _current_placements(self) -> dict[tuple[str, str], DevicePlacement]:
        now = time.monotonic()
        if now - self._placements_at >= self.config.placement_refresh_s:
            try:
                self._placements = self._registry.placements()
                self._devices = self._registry.devices()
            except SQLAlchemyError as exc:
                # Keep writing with the placements we had; readings are never held back for tags.
                log.error(f"registry unreadable, keeping previous placements: {exc}")
            self._placements_at = now
        return self._placements

    def _write_one_by_one(self, batch: list[_Handled]) -> tuple[bool, list[_Handled]]:
        """InfluxDB refused a batch: find the message(s) to blame, keep the rest.

        Returns whether every message was settled (written or dead-lettered) and the ones
        written.
        """
        written: list[_Handled] = []
        for handled in batch:
            try:
                if not self._until_written(self._influx.write_lines, handled.lines):
                    return False, written
                written.append(handled)
            except InfluxRejected as exc:
                self._dead(handled.message, "influx_rejected", str(exc))
        return True, written

    def _until_written(self, action: Callable[..., None], *args: Any) -> bool:
        """Run ``action(*args)`` until InfluxDB takes it; False if asked to stop first."""
        delay = 0.5
        while True:
            try:
                action(*args)
                return True
            except (InfluxUnavailable, InfluxMisconfigured) as exc:
                # Misconfigured (bad token, no such database) is no fault of the data: wait
                # for someone to fix it rather than set every message aside.
                with self._lock:
                    self._stats.write_retries += 1
                level = logging.ERROR if isinstance(exc, InfluxMisconfigured) else logging.WARNING
                log.log(level, f"InfluxDB write failed, retrying in {delay:.1f} s: {exc}")
                if self._stopping.wait(delay):
                    return False
                delay = min(delay * 2, self.config.batch.retry_max_s)
