"""The forwarding loop's bookkeeping, against a scripted MQTT link (the real link is covered by
the integration tests; here the test decides when acks and disconnects happen)."""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gateway.clock import ClockState
from gateway.config import GatewayConfig, MqttSettings, PublishSettings
from gateway.drivers.base import Measurement
from gateway.forwarder import Forwarder
from gateway.outbox import Outbox
from gateway.publisher import Confirmed, ConnectionLost, LinkEvent, PublishAck
from telemetry.acks import decode_ack, encode_acks
from telemetry.codec import decode_batch
from telemetry.reading import Reading

WALL0 = 1_790_000_000_000


@dataclass
class ScriptedLink:
    """Stands in for MqttPublisher: records what is published; the test sends the answers."""

    events: queue.SimpleQueue[LinkEvent] = field(default_factory=queue.SimpleQueue)
    connected: threading.Event = field(default_factory=threading.Event)
    published: dict[int, list[Reading]] = field(default_factory=dict)
    _next_mid: int = 1

    def publish_batch(self, payload: bytes) -> int | None:
        if not self.connected.is_set():
            return None
        mid, self._next_mid = self._next_mid, self._next_mid + 1
        self.published[mid] = decode_batch(payload, "gw-1").readings
        return mid

    def ack_all(self, confirm: bool = True) -> None:
        """The broker's PUBACK for everything published, then (unless not ``confirm``)
        ingest's confirmation of every reading in it."""
        for mid in list(self.published):
            self.events.put(PublishAck(mid, True, "Success"))
        if confirm:
            self.confirm(self.seqs())

    def confirm(self, seqs: list[int], server_ms: int = WALL0) -> None:
        self.events.put(Confirmed(decode_ack(encode_acks(server_ms, seqs)[0]), 5))

    def seqs(self) -> list[int]:
        return sorted(r.seq for batch in self.published.values() for r in batch)


@dataclass
class SteppedClock:
    boot_id: str = "boot-1"
    trusted: bool = True
    mono_ns: int = 0
    server_times: list[tuple[int, int]] = field(default_factory=list)
    floor_ms: int = 0

    def stamp(self) -> tuple[int, int]:
        return WALL0 + self.mono_ns // 1_000_000, self.mono_ns

    def state(self) -> ClockState:
        return ClockState(self.trusted, "ntp" if self.trusted else "none")

    def observe_server_time(self, server_ms: int, mono_ns: int) -> None:
        self.server_times.append((server_ms, mono_ns))

    def raise_floor(self, time_ms: int) -> None:
        self.floor_ms = max(self.floor_ms, time_ms)


Parts = tuple[Forwarder, ScriptedLink, "SteppedClock", queue.SimpleQueue]


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[Parts]:
    config = GatewayConfig(
        gateway_id="gw-1",
        state_dir=tmp_path,
        mqtt=MqttSettings(username="gw-1", password="x"),
        publish=PublishSettings(
            batch_size=10,
            backlog_batch_size=25,
            max_inflight_batches=3,
            ack_timeout_s=30,
            ack_timeout_max_s=600,
        ),
    )
    outbox = Outbox(tmp_path / "outbox.sqlite3", "gw-1")
    link, clock, measurements = ScriptedLink(), SteppedClock(), queue.SimpleQueue()
    link.connected.set()
    forwarder = Forwarder(config, outbox, link, clock, measurements, on_stats=lambda s: None)
    yield forwarder, link, clock, measurements
    outbox.close()


def _measure(measurements: queue.SimpleQueue, clock: SteppedClock, n: int) -> None:
    for _ in range(n):
        clock.mono_ns += 1_000_000_000
        wall, mono = clock.stamp()
        measurements.put([Measurement("soil-1", "soil_moisture", 30.0, wall, mono)])


def test_all_fresh_readings_go_out_each_interval_in_batches(parts) -> None:
    forwarder, link, clock, measurements = parts
    _measure(measurements, clock, 25)
    forwarder.tick(publish_fresh=True)
    assert [len(b) for b in link.published.values()] == [10, 10, 5]
    assert link.seqs() == list(range(1, 26))


def test_fresh_readings_wait_for_the_publish_interval(parts) -> None:
    forwarder, link, clock, measurements = parts
    _measure(measurements, clock, 5)
    forwarder.tick(publish_fresh=False)
    assert link.published == {}
    assert forwarder.stats.outbox_depth == 5  # but they are on disk already


def test_batches_in_flight_when_the_connection_drops_are_sent_again(parts) -> None:
    forwarder, link, clock, measurements = parts
    _measure(measurements, clock, 20)
    forwarder.tick(publish_fresh=True)
    assert link.seqs() == list(range(1, 21))
    link.connected.clear()
    link.events.put(ConnectionLost())
    link.published.clear()
    forwarder.tick(publish_fresh=True)
    assert link.published == {}
    link.connected.set()
    forwarder.tick(publish_fresh=False)  # the lost batches are backlog now: no interval wait
    assert link.seqs() == list(range(1, 21))
    link.ack_all()
    forwarder.tick(publish_fresh=False)
    assert forwarder.stats.outbox_depth == 0
    assert forwarder.stats.readings_sent == 20


def test_a_refused_batch_stays_in_the_outbox(parts) -> None:
    forwarder, link, clock, measurements = parts
    _measure(measurements, clock, 5)
    forwarder.tick(publish_fresh=True)
    link.events.put(PublishAck(1, False, "Not authorized"))
    forwarder.tick(publish_fresh=False)
    assert forwarder.stats.batches_refused == 1
    assert forwarder.stats.outbox_depth == 5


def test_backlog_goes_oldest_first_in_large_batches_beside_fresh_readings(parts) -> None:
    forwarder, link, clock, measurements = parts
    link.connected.clear()
    _measure(measurements, clock, 100)
    forwarder.tick(publish_fresh=True)  # offline: everything stays on disk
    link.events.put(ConnectionLost())
    forwarder.tick(publish_fresh=False)
    link.connected.set()
    _measure(measurements, clock, 4)  # fresh readings after the reconnect
    forwarder.tick(publish_fresh=True)
    sizes = {mid: [r.seq for r in batch] for mid, batch in link.published.items()}
    # Fresh first (101..104), then the backlog from the oldest, within 3 batches in flight.
    assert list(sizes.values()) == [list(range(101, 105)), list(range(1, 26)), list(range(26, 51))]
    link.ack_all()
    forwarder.tick(publish_fresh=False)
    forwarder.tick(publish_fresh=False)
    link.ack_all()
    forwarder.tick(publish_fresh=False)
    assert link.seqs() == list(range(1, 105))


def test_readings_before_a_trusted_clock_are_held_then_get_their_true_time(parts) -> None:
    forwarder, link, clock, measurements = parts
    clock.trusted = False
    _measure(measurements, clock, 3)
    forwarder.tick(publish_fresh=True)
    assert link.published == {}
    assert forwarder.stats.waiting_for_clock == 3
    clock.trusted = True
    clock.mono_ns += 10_000_000_000
    forwarder.tick(publish_fresh=True)
    times = sorted(r.time_ms for b in link.published.values() for r in b)
    # Read at mono 1, 2, 3 s; now is mono 13 s at WALL0 + 13 s.
    assert times == [WALL0 + 1000, WALL0 + 2000, WALL0 + 3000]
    assert forwarder.stats.readings_rebased == 3


def test_a_reading_the_broker_took_stays_until_ingest_confirms_it(parts) -> None:
    forwarder, link, clock, measurements = parts
    _measure(measurements, clock, 5)
    forwarder.tick(publish_fresh=True)
    link.ack_all(confirm=False)
    forwarder.tick(publish_fresh=False)
    # A broker crash now would lose what it had not saved: the outbox still holds it all.
    assert forwarder.stats.outbox_depth == 5
    assert forwarder.stats.readings_sent == 0
    link.confirm([1, 2, 3])
    forwarder.tick(publish_fresh=False)
    assert forwarder.stats.outbox_depth == 2
    link.confirm([4, 5], server_ms=WALL0 + 42)
    forwarder.tick(publish_fresh=False)
    assert forwarder.stats.outbox_depth == 0
    assert forwarder.stats.readings_sent == 5
    assert forwarder.idle
    assert clock.server_times[-1] == (WALL0 + 42, 5)


def test_unconfirmed_readings_are_sent_again_after_the_timeout_which_backs_off(
    parts, monkeypatch: pytest.MonkeyPatch
) -> None:
    forwarder, link, clock, measurements = parts
    now = [1000.0]
    monkeypatch.setattr("gateway.forwarder.time.monotonic", lambda: now[0])
    _measure(measurements, clock, 5)
    forwarder.tick(publish_fresh=True)
    link.ack_all(confirm=False)  # the broker took it; a killed ingest worker never confirms
    forwarder.tick(publish_fresh=False)
    link.published.clear()
    now[0] += 29
    forwarder.tick(publish_fresh=True)
    assert link.published == {}
    now[0] += 2  # past the 30 s timeout
    forwarder.tick(publish_fresh=True)
    assert link.seqs() == [1, 2, 3, 4, 5]
    assert forwarder.stats.batches_resent_unconfirmed == 1
    # Still nothing confirmed: the next timeout is twice as long.
    link.ack_all(confirm=False)
    forwarder.tick(publish_fresh=False)
    link.published.clear()
    now[0] += 31
    forwarder.tick(publish_fresh=True)
    assert link.published == {}
    now[0] += 30
    forwarder.tick(publish_fresh=True)
    assert link.seqs() == [1, 2, 3, 4, 5]
    link.ack_all()
    forwarder.tick(publish_fresh=False)
    assert forwarder.stats.outbox_depth == 0
    assert forwarder.stats.readings_sent == 5


def test_a_late_confirmation_of_a_requeued_reading_still_deletes_it(parts, monkeypatch) -> None:
    forwarder, link, clock, measurements = parts
    now = [1000.0]
    monkeypatch.setattr("gateway.forwarder.time.monotonic", lambda: now[0])
    _measure(measurements, clock, 3)
    forwarder.tick(publish_fresh=True)
    link.ack_all(confirm=False)
    forwarder.tick(publish_fresh=False)
    now[0] += 31
    link.connected.clear()  # offline: the requeued batch cannot go out again yet
    forwarder.tick(publish_fresh=True)
    link.confirm([1, 2, 3])  # the first sending was stored after all
    forwarder.tick(publish_fresh=False)
    assert forwarder.stats.outbox_depth == 0


def test_unconfirmed_batches_are_bounded_and_the_rest_waits_on_disk(tmp_path: Path) -> None:
    config = GatewayConfig(
        gateway_id="gw-1",
        state_dir=tmp_path,
        mqtt=MqttSettings(username="gw-1", password="x"),
        publish=PublishSettings(batch_size=10, max_unconfirmed_batches=2),
    )
    outbox = Outbox(tmp_path / "outbox.sqlite3", "gw-1")
    link, clock, measurements = ScriptedLink(), SteppedClock(), queue.SimpleQueue()
    link.connected.set()
    forwarder = Forwarder(config, outbox, link, clock, measurements, on_stats=lambda s: None)
    try:
        _measure(measurements, clock, 50)
        forwarder.tick(publish_fresh=True)
        link.ack_all(confirm=False)
        forwarder.tick(publish_fresh=True)
        assert len(link.published) == 2  # InfluxDB is down: two batches wait for ingest
        link.confirm(link.seqs())
        forwarder.tick(publish_fresh=True)
        assert len(link.published) == 4
    finally:
        outbox.close()


def test_with_confirm_broker_the_pubacks_alone_settle(tmp_path: Path) -> None:
    config = GatewayConfig(
        gateway_id="gw-1",
        state_dir=tmp_path,
        mqtt=MqttSettings(username="gw-1", password="x"),
        publish=PublishSettings(confirm="broker"),
    )
    outbox = Outbox(tmp_path / "outbox.sqlite3", "gw-1")
    link, clock, measurements = ScriptedLink(), SteppedClock(), queue.SimpleQueue()
    link.connected.set()
    forwarder = Forwarder(config, outbox, link, clock, measurements, on_stats=lambda s: None)
    try:
        _measure(measurements, clock, 5)
        forwarder.tick(publish_fresh=True)
        link.ack_all(confirm=False)
        forwarder.tick(publish_fresh=False)
        assert forwarder.stats.outbox_depth == 0
    finally:
        outbox.close()


def test_the_clock_floor_follows_committed_readings_across_restarts(tmp_path: Path) -> None:
    config = GatewayConfig(
        gateway_id="gw-1", state_dir=tmp_path, mqtt=MqttSettings(username="gw-1", password="x")
    )
    outbox = Outbox(tmp_path / "outbox.sqlite3", "gw-1")
    clock, measurements = SteppedClock(), queue.SimpleQueue()
    forwarder = Forwarder(config, outbox, ScriptedLink(), clock, measurements, lambda s: None)
    _measure(measurements, clock, 3)
    forwarder.tick(publish_fresh=False)
    assert clock.floor_ms == WALL0 + 3000
    outbox.close()
    reopened = Outbox(tmp_path / "outbox.sqlite3", "gw-1")
    after_reboot = SteppedClock()
    Forwarder(config, reopened, ScriptedLink(), after_reboot, queue.SimpleQueue(), lambda s: None)
    assert after_reboot.floor_ms == WALL0 + 3000
    reopened.close()


def test_an_ack_that_meets_a_full_disk_is_applied_on_the_next_tick(parts, monkeypatch) -> None:
    forwarder, link, clock, measurements = parts
    _measure(measurements, clock, 3)
    forwarder.tick(publish_fresh=True)
    link.ack_all()
    real_confirm = forwarder.outbox.confirm
    calls = []

    def full_disk_once(ranges):
        calls.append(ranges)
        if len(calls) == 1:
            raise sqlite3.OperationalError("database or disk is full")
        return real_confirm(ranges)

    monkeypatch.setattr(forwarder.outbox, "confirm", full_disk_once)
    with pytest.raises(sqlite3.OperationalError):
        forwarder.tick(publish_fresh=False)
    forwarder.tick(publish_fresh=False)
    assert forwarder.stats.outbox_depth == 0
    assert forwarder.stats.readings_sent == 3


def test_two_readings_of_a_series_in_one_millisecond_keep_distinct_times(parts) -> None:
    # InfluxDB keeps one point per series and time: the second would silently replace the first.
    forwarder, link, clock, measurements = parts
    wall, mono = clock.stamp()
    line = [Measurement("weather-1", "air_temperature", 27.0 + n, wall, mono) for n in range(3)]
    measurements.put(line)
    forwarder.tick(publish_fresh=True)
    times = [r.time_ms for batch in link.published.values() for r in batch]
    assert times == [WALL0, WALL0 + 1, WALL0 + 2]
