"""Ingest loses nothing and writes nothing twice, whatever happens around it.

Real Mosquitto and influxd; gateway batches published with the gateway's own credentials at a
steady pace from a thread; ingest in-process or, where the test kills it, as its own process.
Every published reading has a distinct (series, time), so "no loss, no duplicates" means: the
points InfluxDB holds are exactly the published readings, one point each.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest

from ingest.config import AckSettings, BatchSettings, InfluxSettings, IngestConfig, MqttSettings
from ingest.deadletters import DeadLetters
from ingest.service import Ingest
from registry.store import (
    DeviceEntry,
    FieldEntry,
    GatewayEntry,
    Registry,
    SiteFile,
    VillageEntry,
)
from storage.influx import InfluxDB, InfluxRejected
from storage.last_values import LastValues
from tani.stack import Stack
from telemetry.acks import Ack, decode_ack
from telemetry.codec import encode_batch
from telemetry.reading import Quality, Reading
from telemetry.topics import ack_topic, readings_topic
from tests.integration.support import wait_for

pytestmark = pytest.mark.integration

_run = itertools.count()
T0 = 1_790_000_000_000


@dataclass
class Stream:
    """Publishes batches of distinct readings as gateway ``gateway_id`` until stopped."""

    stack: Stack
    gateway_id: str
    batch: int = 50
    interval_s: float = 0.02
    published: dict[int, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        creds = self.stack.add_mqtt_user(self.gateway_id, "gateway")
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=self.gateway_id, protocol=mqtt.MQTTv5
        )
        self._client.username_pw_set(creds.username, creds.password)
        self._client.connect(self.stack.mqtt_host, self.stack.mqtt_port)
        self._client.loop_start()
        self._seq = itertools.count(1)

    def readings(self, n: int) -> list[Reading]:
        rows = []
        for _ in range(n):
            seq = next(self._seq)
            rows.append(
                Reading(
                    self.gateway_id,
                    "soil-1",
                    "soil_moisture",
                    20 + (seq % 400) / 10,
                    "%",
                    T0 + seq * 1000,
                    Quality.GOOD,
                    seq,
                )
            )
        return rows

    def publish(self, rows: list[Reading]) -> None:
        info = self._client.publish(
            readings_topic(self.gateway_id), encode_batch(self.gateway_id, rows), qos=1
        )
        info.wait_for_publish(10)
        self.published.update((r.seq, r.value) for r in rows)

    def start(self) -> None:
        def run() -> None:
            while not self._stop.is_set():
                self.publish(self.readings(self.batch))
                self._stop.wait(self.interval_s)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def halt(self) -> None:
        """Stop the steady stream; single publishes still work."""
        self._stop.set()
        if self._thread:
            self._thread.join()

    def stop(self) -> None:
        self.halt()
        self._client.disconnect()
        self._client.loop_stop()


def _stored(influx: InfluxDB, gateway_id: str) -> dict[int, float]:
    try:
        series = influx.query(
            'SELECT "seq", "value" FROM "reading" WHERE "gateway_id" = $gw', {"gw": gateway_id}
        )
    except InfluxRejected as exc:
        if "database not found" in str(exc):
            return {}  # ingest has not created it yet
        raise
    points = [row for s in series for row in s.rows()]
    # A query running while influxd applies a write may see one field of a point before the
    # other (each field is its own key in its cache); such a point is not stored yet.
    complete = [p for p in points if p["seq"] is not None and p["value"] is not None]
    stored = {int(p["seq"]): p["value"] for p in complete}
    assert len(stored) == len(complete), "a reading was stored as two points"
    return stored


def _assert_exactly_once(influx: InfluxDB, stream: Stream, timeout: float = 60) -> None:
    wait_for(
        lambda: len(_stored(influx, stream.gateway_id)) >= len(stream.published),
        timeout=timeout,
        what=f"{len(stream.published)} readings stored",
    )
    assert _stored(influx, stream.gateway_id) == stream.published
    # Everything written by now: a point missing a field would be a reading stored half.
    series = influx.query(
        'SELECT COUNT("seq") AS "seq", COUNT("value") AS "value" FROM "reading" '
        'WHERE "gateway_id" = $gw',
        {"gw": stream.gateway_id},
    )
    (counts,) = [row for s in series for row in s.rows()]
    assert counts["seq"] == counts["value"] == len(stream.published), counts


def _start_when_subscribed(stream: Stream, influx: InfluxDB) -> None:
    """Messages published before ingest first subscribed are nobody's: a probe gateway of its
    own publishes until ingest stores one of its readings, then the stream starts."""
    probe = Stream(stream.stack, f"{stream.gateway_id}-probe")
    try:
        deadline = time.monotonic() + 30
        while not _stored(influx, probe.gateway_id):
            assert time.monotonic() < deadline, "ingest never subscribed"
            probe.publish(probe.readings(1))
            time.sleep(0.2)
    finally:
        probe.stop()
    stream.start()


def _config(stack: Stack, tmp_path: Path, database: str, **mqtt: object) -> IngestConfig:
    creds = stack.add_mqtt_user("ingest-rel", "service")
    return IngestConfig(
        acks=AckSettings(delay_s=0.2),
        # These tests are about delivery; holding unregistered devices has a test of its own.
        unknown_devices="store",
        quarantine_path=tmp_path / "quarantine.sqlite3",
        mqtt=MqttSettings(
            host=stack.mqtt_host,
            port=stack.mqtt_port,
            username=creds.username,
            password=creds.password,
            **mqtt,
        ),
        influx=InfluxSettings(url=stack.influx_url, database=database),
        batch=BatchSettings(max_delay_s=0.1, retry_max_s=2.0),
        registry_url=f"sqlite:///{tmp_path / 'registry.sqlite3'}",
        deadletters_path=tmp_path / "deadletters.sqlite3",
    )


@contextmanager
def _running(
    stack: Stack,
    tmp_path: Path,
    names: tuple[str, str, str],
    adjust: Callable[[IngestConfig], IngestConfig] = lambda config: config,
) -> Iterator[tuple[IngestConfig, Ingest, Stream, InfluxDB]]:
    """An in-process ingest worker, subscribed, with a gateway stream and a database handle."""
    gateway_id, database, client_id = names
    config = adjust(_config(stack, tmp_path, database, client_id=client_id))
    ingest = Ingest(config)
    ingest.start()
    stream = Stream(stack, gateway_id)
    influx = InfluxDB(stack.influx_url, database)
    try:
        assert ingest.wait_subscribed(10), "ingest never subscribed"
        yield config, ingest, stream, influx
    finally:
        stream.stop()
        ingest.stop()
        influx.close()


@pytest.fixture
def names() -> tuple[str, str, str]:
    run = next(_run)
    return f"gw-rel-{run}", f"rel_{run}", f"ingest-rel-{run}"


def test_influxdb_stopped_and_restarted_mid_stream(
    private_stack: Stack, tmp_path: Path, names: tuple[str, str, str]
) -> None:
    gateway_id, database, client_id = names
    private_stack.up()
    config = _config(private_stack, tmp_path, database, client_id=client_id)
    # /healthz tells a worker that is up but stores nothing (InfluxDB down) from a healthy one.
    config = config.model_copy(update={"metrics_port": 0, "stall_after_s": 1.0})
    ingest = Ingest(config)
    ingest.start()
    healthz = f"http://127.0.0.1:{ingest.metrics.port}/healthz"
    stream = Stream(private_stack, gateway_id)
    influx = InfluxDB(private_stack.influx_url, database)
    _start_when_subscribed(stream, influx)
    try:
        wait_for(lambda: len(_stored(influx, gateway_id)) > 200, what="first readings stored")
        assert httpx.get(healthz).status_code == 200
        influxd = private_stack.status().influxd.pid
        os.kill(influxd, signal.SIGTERM)
        wait_for(lambda: ingest.stats().write_retries >= 2, what="writes failing")
        unhealthy = wait_for(
            lambda: (r := httpx.get(healthz)).status_code == 503 and r.json(),
            what="/healthz saying the backlog is stuck",
        )
        assert "none acknowledged" in unhealthy["problems"][0]
        assert unhealthy["backlog_messages"] > 0
        metrics = httpx.get(f"http://127.0.0.1:{ingest.metrics.port}/metrics").text
        assert "tani_ingest_backlog_stalled_seconds" in metrics
        private_stack.up()  # starts influxd again
        wait_for(lambda: httpx.get(healthz).status_code == 200, what="healthy again")
    finally:
        stream.stop()
    try:
        _assert_exactly_once(influx, stream)
    finally:
        ingest.stop()
        influx.close()


def _ingest_process(config: IngestConfig, path: Path) -> subprocess.Popen[bytes]:
    path.write_text(_ingest_toml(config))
    return subprocess.Popen(
        [sys.executable, "-c", "from tani.cli import app; app()", "ingest", "-c", str(path)],
        stderr=path.with_suffix(".log").open("ab"),
    )


def _ingest_toml(config: IngestConfig) -> str:
    m, i = config.mqtt, config.influx
    return f"""registry_url = "{config.registry_url}"
deadletters_path = "{config.deadletters_path}"
quarantine_path = "{config.quarantine_path}"
unknown_devices = "{config.unknown_devices}"
[mqtt]
host = "{m.host}"
port = {m.port}
username = "{m.username}"
password = "{m.password}"
client_id = "{m.client_id}"
[influx]
url = "{i.url}"
database = "{i.database}"
[batch]
max_delay_s = 0.1
"""


def test_ingest_killed_mid_batch_and_restarted(
    stack: Stack, tmp_path: Path, names: tuple[str, str, str]
) -> None:
    gateway_id, database, client_id = names
    config = _config(stack, tmp_path, database, client_id=client_id)
    process = _ingest_process(config, tmp_path / "ingest.toml")
    stream = Stream(stack, gateway_id, batch=200, interval_s=0.005)
    influx = InfluxDB(stack.influx_url, database)
    _start_when_subscribed(stream, influx)
    try:
        wait_for(lambda: len(_stored(influx, gateway_id)) > 2000, what="first readings stored")
        process.send_signal(signal.SIGKILL)
        process.wait()
        time.sleep(1)  # readings keep coming while ingest is dead
        process = _ingest_process(config, tmp_path / "ingest.toml")
        time.sleep(1)
    finally:
        stream.stop()
    try:
        _assert_exactly_once(influx, stream)
    finally:
        process.terminate()
        process.wait(30)
        influx.close()


def test_two_workers_share_the_stream_and_one_stops(
    stack: Stack, tmp_path: Path, names: tuple[str, str, str]
) -> None:
    gateway_id, database, client_id = names
    for n in range(2):
        (tmp_path / str(n)).mkdir()
    workers = [
        Ingest(
            _config(
                stack,
                tmp_path / str(n),
                database,
                client_id=f"{client_id}-{n}",
                shared_group=f"group-{database}",
            )
        )
        for n in range(2)
    ]
    for worker in workers:
        worker.start()
    stream = Stream(stack, gateway_id)
    influx = InfluxDB(stack.influx_url, database)
    _start_when_subscribed(stream, influx)
    try:
        wait_for(
            lambda: all(w.stats().readings_written > 100 for w in workers),
            what="both workers writing",
        )
        workers[0].stop()
        stopped_at = workers[1].stats().readings_written
        wait_for(
            lambda: workers[1].stats().readings_written > stopped_at + 500,
            what="the other worker taking the whole stream",
        )
    finally:
        stream.stop()
    try:
        _assert_exactly_once(influx, stream)
    finally:
        workers[1].stop()
        influx.close()


def test_mixed_stream_keeps_valid_readings_and_sets_aside_the_rest(
    stack: Stack, tmp_path: Path, names: tuple[str, str, str]
) -> None:
    gateway_id = names[0]
    with _running(stack, tmp_path, names) as (config, ingest, stream, influx):
        stream.publish(stream.readings(10))
        stream._client.publish(readings_topic(gateway_id), b"\x02\x00garbage", qos=1)
        # A JSON payload that claims to come from another gateway.
        forged = encode_batch("gw-other", stream.readings(1), "json")
        stream._client.publish(readings_topic(gateway_id), forged, qos=1).wait_for_publish(5)
        bad_row = json.dumps(
            {"v": 1, "gw": gateway_id, "r": [["soil-1", "soil_moisture", "wet", "%", T0, "g", 9]]}
        ).encode()
        stream._client.publish(readings_topic(gateway_id), bad_row, qos=1).wait_for_publish(5)
        stream.publish(stream.readings(10))
        _assert_exactly_once(influx, stream)
        wait_for(lambda: ingest.stats().dead_letters == 3, what="three dead letters")
    letters = DeadLetters(config.deadletters_path)
    try:
        reasons = sorted(letter.reason for letter in letters.latest())
    finally:
        letters.close()
    assert reasons == ["forged_gateway", "invalid_readings", "malformed_payload"]
    listed = subprocess.run(
        [
            sys.executable,
            "-c",
            "from tani.cli import app; app()",
            "deadletters",
            "--path",
            str(config.deadletters_path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert [json.loads(line)["reason"] for line in listed.stdout.splitlines()] == [
        "invalid_readings",
        "forged_gateway",
        "malformed_payload",
    ]


def _poison(gateway_id: str) -> bytes:
    # A JSON integer too large for a float: it once raised OverflowError in the decoder thread,
    # which died and left ingest up, silent and storing nothing from any gateway.
    return b'{"v":1,"gw":"%s","r":[["soil-1","soil_moisture",1%s,"%%",%d,"g",1]]}' % (
        gateway_id.encode(),
        b"0" * 309,
        T0,
    )


def test_poison_payload_is_a_dead_letter_and_the_next_reading_is_stored_within_5_s(
    stack: Stack, tmp_path: Path, names: tuple[str, str, str]
) -> None:
    gateway_id = names[0]
    with _running(stack, tmp_path, names) as (_, ingest, stream, influx):
        stream.publish(stream.readings(5))
        _assert_exactly_once(influx, stream)
        for _ in range(3):
            stream._client.publish(readings_topic(gateway_id), _poison(gateway_id), qos=1)
        stream.publish(stream.readings(5))
        sent = time.monotonic()
        _assert_exactly_once(influx, stream, timeout=5)
        assert time.monotonic() - sent < 5
        wait_for(lambda: ingest.stats().dead_letters == 3, what="three dead letters")
        assert ingest.stats().rejected_by_reason == {"invalid_readings": 3}


def test_an_unforeseen_error_sets_the_message_aside_and_ingest_goes_on(
    stack: Stack, tmp_path: Path, names: tuple[str, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import ingest.service
    from ingest.lines import LineMaker

    class Buggy(LineMaker):
        """Line making with a bug that only one device's readings meet."""

        def series(self, gateway_id: str, device_id: str, quantity: str, unit: str) -> Any:
            if device_id == "boom":
                raise RuntimeError("a bug nobody foresaw")
            return super().series(gateway_id, device_id, quantity, unit)

    monkeypatch.setattr(ingest.service, "LineMaker", Buggy)
    gateway_id = names[0]
    with _running(stack, tmp_path, names) as (_, worker, stream, influx):
        boom = Reading(gateway_id, "boom", "soil_moisture", 20.0, "%", T0, Quality.GOOD, 10**6)
        stream._client.publish(
            readings_topic(gateway_id), encode_batch(gateway_id, [boom]), qos=1
        ).wait_for_publish(5)
        stream.publish(stream.readings(5))
        _assert_exactly_once(influx, stream, timeout=10)
        wait_for(lambda: worker.stats().internal_errors == 1, what="the error counted")
        assert worker.stats().rejected_by_reason == {"internal_error": 1}


def test_physically_impossible_value_is_stored_as_bad_not_good(
    stack: Stack, tmp_path: Path, names: tuple[str, str, str]
) -> None:
    gateway_id = names[0]
    with _running(stack, tmp_path, names) as (_, ingest, stream, influx):
        wet = Reading(gateway_id, "soil-1", "soil_moisture", 150.0, "%", T0, Quality.GOOD, 1)
        stream.publish([wet])
        rows = wait_for(
            lambda: [
                row
                for s in influx.query('SELECT "value", "quality" FROM "reading"')
                for row in s.rows()
            ],
            what="the reading stored",
        )
        assert [(r["value"], r["quality"]) for r in rows] == [(150.0, "bad")]
        assert ingest.stats().readings_impossible == 1


def test_ingest_confirms_what_influxdb_holds_to_that_gateway_alone(
    stack: Stack, tmp_path: Path, names: tuple[str, str, str]
) -> None:
    gateway_id = names[0]
    other = stack.add_mqtt_user(f"{gateway_id}-other", "gateway")
    with _running(stack, tmp_path, names) as (_, _worker, stream, influx):
        acks: list[Ack] = []
        snooped: list[bytes] = []
        stream._client.on_message = lambda c, u, m: acks.append(decode_ack(m.payload))
        stream._client.subscribe(ack_topic(gateway_id), qos=0)
        spy = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        spy.username_pw_set(other.username, other.password)
        spy.on_message = lambda c, u, m: snooped.append(m.payload)
        spy.connect(stack.mqtt_host, stack.mqtt_port)
        spy.loop_start()
        spy.subscribe(ack_topic(gateway_id), qos=0)
        time.sleep(0.5)
        stream.publish(stream.readings(20))
        stream.publish(stream.readings(20))
        _assert_exactly_once(influx, stream)
        wait_for(lambda: sum(a.count() for a in acks) >= 40, what="acks for 40 readings")
        spy.loop_stop()
        spy.disconnect()
    confirmed = {seq for a in acks for first, last in a.ranges for seq in range(first, last + 1)}
    assert confirmed == set(stream.published)
    assert all(abs(a.server_time_ms - time.time() * 1000) < 60_000 for a in acks)
    assert snooped == [], "another gateway read this gateway's acks"


def test_metrics_endpoint_reports_what_happened(
    stack: Stack, tmp_path: Path, names: tuple[str, str, str]
) -> None:
    gateway_id = names[0]
    # The stream's readings are dated weeks back: audit a long window.
    metered = {"metrics_port": 0, "gap_audit_s": 0.2, "gap_window_h": 24 * 365}
    with _running(stack, tmp_path, names, lambda c: c.model_copy(update=metered)) as (
        _,
        ingest,
        stream,
        influx,
    ):
        stream.publish(stream.readings(3))
        next(stream._seq)  # one reading the gateway "lost"
        stream.publish(stream.readings(3))
        _assert_exactly_once(influx, stream)
        url = f"http://127.0.0.1:{ingest.metrics.port}/metrics"

        def audited() -> str | None:
            body = httpx.get(url).text
            return body if f'missing_readings{{gateway_id="{gateway_id}"}} 1' in body else None

        text = wait_for(audited, what="the sequence audit in the metrics")
    assert "tani_ingest_readings_written_total" in text
    assert "tani_ingest_write_seconds_bucket" in text
    assert "tani_ingest_backlog_messages" in text
    assert f'tani_ingest_missing_readings{{gateway_id="{gateway_id}"}} 1.0' in text


def test_missing_database_is_waited_for_not_dead_lettered(
    stack: Stack, tmp_path: Path, names: tuple[str, str, str]
) -> None:
    def no_create(config: IngestConfig) -> IngestConfig:
        return config.model_copy(
            update={"influx": config.influx.model_copy(update={"create": False})}
        )

    with _running(stack, tmp_path, names, no_create) as (_, ingest, stream, influx):
        stream.publish(stream.readings(20))
        wait_for(lambda: ingest.stats().write_retries >= 2, what="writes refused: no database")
        assert ingest.stats().dead_letters == 0
        influx.ensure_database()  # the operator fixes it
        _assert_exactly_once(influx, stream)


def test_rollups_follow_the_readings_including_late_ones(
    stack: Stack, tmp_path: Path, names: tuple[str, str, str]
) -> None:
    gateway_id = names[0]
    often = {"rollup_every_s": 0.5}
    with _running(stack, tmp_path, names, lambda c: c.model_copy(update=often)) as (
        _,
        _ingest,
        stream,
        influx,
    ):
        # Readings one per second from T0: a replayed backlog, weeks old.
        stream.publish(stream.readings(100))
        _assert_exactly_once(influx, stream)

        def hourly() -> list[dict[str, object]]:
            series = influx.query(
                'SELECT "mean", "min", "max", "count" FROM "rollup"."reading_1h"'
                ' WHERE "gateway_id" = $gw',
                {"gw": gateway_id},
            )
            return [row for s in series for row in s.rows()]

        rows = wait_for(hourly, what="hourly rollups of the late readings")
    values = list(stream.published.values())
    assert sum(int(r["count"]) for r in rows) == len(values)
    assert min(float(r["min"]) for r in rows) == min(values)
    assert max(float(r["max"]) for r in rows) == max(values)


def test_unregistered_devices_are_held_listed_and_replayed_once_registered(
    stack: Stack, tmp_path: Path, names: tuple[str, str, str]
) -> None:
    """Before: stored with empty field and village tags, and counted as stored."""
    gateway_id = names[0]
    registry = Registry(f"sqlite:///{tmp_path / 'registry.sqlite3'}")
    site = SiteFile(
        villages=[VillageEntry(id="karang-agung", name="Karang Agung")],
        fields=[FieldEntry(id="sawah-1", name="Sawah 1", village="karang-agung", crop="padi")],
        gateways=[
            GatewayEntry(
                id=gateway_id,
                name=gateway_id,
                devices=[DeviceEntry(id="soil-1", kind="modbus_soil", field="sawah-1")],
            )
        ],
    )
    registry.apply(site)
    hold = {"unknown_devices": "hold"}
    with _running(stack, tmp_path, names, lambda c: c.model_copy(update=hold)) as (
        config,
        ingest,
        stream,
        influx,
    ):
        stray = [
            Reading(gateway_id, "soil-9", "soil_moisture", 30.0, "%", T0 + n, Quality.GOOD, 100 + n)
            for n in range(4)
        ]
        stream._client.publish(
            readings_topic(gateway_id), encode_batch(gateway_id, stray), qos=1
        ).wait_for_publish(5)
        stream.publish(stream.readings(5))  # soil-1: registered
        # soil-1's five, and nothing of soil-9's.
        _assert_exactly_once(influx, stream)
        wait_for(lambda: ingest.stats().readings_held == 4, what="four readings held")
    listed = _cli("quarantine", "list", "--path", str(config.quarantine_path))
    assert [json.loads(line) for line in listed.splitlines()] == [
        {
            "gateway_id": gateway_id,
            "device_id": "soil-9",
            "readings": 4,
            "first_ms": T0,
            "last_ms": T0 + 3,
        }
    ]
    site.gateways[0].devices.append(DeviceEntry(id="soil-9", kind="modbus_soil", field="sawah-1"))
    registry.apply(site)
    registry.close()
    config_path = tmp_path / "ingest.toml"
    config_path.write_text(_ingest_toml(config))
    replayed = json.loads(_cli("quarantine", "replay", "-c", str(config_path)))
    assert replayed == {"replayed": {f"{gateway_id}/soil-9": 4}}
    influx = InfluxDB(stack.influx_url, config.influx.database)
    try:
        rows = [
            row
            for s in influx.query(
                'SELECT "value", "field_id", "village_id" FROM "reading" WHERE "device_id" = $d',
                {"d": "soil-9"},
            )
            for row in s.rows()
        ]
    finally:
        influx.close()
    assert [(r["field_id"], r["village_id"]) for r in rows] == [("sawah-1", "karang-agung")] * 4
    assert _cli("quarantine", "list", "--path", str(config.quarantine_path)) == ""


def _cli(*args: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", "from tani.cli import app; app()", *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_a_lone_message_is_written_at_once_not_after_the_batch_delay(
    stack: Stack, tmp_path: Path, names: tuple[str, str, str]
) -> None:
    # max_delay_s only caps a stream that never pauses: a message alone is written as soon as
    # nothing else waits behind it (it used to wait the whole delay for company).
    def slow_cap(config: IngestConfig) -> IngestConfig:
        return config.model_copy(update={"batch": BatchSettings(max_delay_s=20.0)})

    with _running(stack, tmp_path, names, slow_cap) as (_, _, stream, influx):
        sent = time.monotonic()
        stream.publish(stream.readings(3))
        _assert_exactly_once(influx, stream, timeout=15)
        assert time.monotonic() - sent < 10


def test_a_last_value_store_that_fails_holds_nothing_back_and_catches_up_when_it_works(
    stack: Stack, tmp_path: Path, names: tuple[str, str, str]
) -> None:
    gateway_id = names[0]
    registry = Registry.from_path(tmp_path / "registry.sqlite3")
    registry.apply(
        SiteFile(
            villages=[VillageEntry(id="karang-agung", name="Karang Agung")],
            fields=[FieldEntry(id="sawah-1", name="Sawah 1", village="karang-agung")],
            gateways=[
                GatewayEntry(
                    id=gateway_id,
                    name=gateway_id,
                    devices=[DeviceEntry(id="soil-1", kind="modbus_soil", field="sawah-1")],
                )
            ],
        )
    )
    registry.close()
    store_url = f"sqlite:///{tmp_path / 'last_values.sqlite3'}"

    def newest_kept() -> int | None:
        store = LastValues(store_url)
        try:
            kept = store.of_field("sawah-1")
        finally:
            store.close()
        return kept[0].time_ms if kept else None

    with _running(stack, tmp_path, names) as (_, ingest, stream, influx):
        stream.publish(stream.readings(5))
        wait_for(lambda: newest_kept() == T0 + 5_000, timeout=5, what="the store kept up")
        with sqlite3.connect(tmp_path / "last_values.sqlite3") as db:
            db.execute("DROP TABLE last_value")  # the store breaks
        stream.publish(stream.readings(5))
        _assert_exactly_once(influx, stream, timeout=10)  # stored and acknowledged regardless
        wait_for(lambda: ingest.stats().last_values_failures > 0, what="the failure counted")
        LastValues(store_url).close()  # the store works again (the table back, empty)
        # With no new reading, what the store missed is offered again.
        wait_for(lambda: newest_kept() == T0 + 10_000, timeout=5, what="the store caught up")
