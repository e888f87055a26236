"""``tani demo`` starts with a season behind it: weeks of readings and records, stored through
the real pipeline before anyone looks, so charts, village summaries, water advice and alerts
have something to show in the first minute.

The season (``tani.demo_season_model``) is put into the demo gateway's own outbox before the
gateway starts, as the readings of a gateway that was offline for weeks would be; the gateway
then sends it as it sends any backlog: its own MQTT login, the wire codec, batches oldest first
beside the fresh readings, each reading deleted only when ingest confirms it. Ingest places it
by (gateway, device) in the registry's fields, writes it to InfluxDB and confirms it on the
gateway's ack topic, where this module listens with the same login. Once every sequence number
of the season is confirmed, the hourly and daily rollups of those days are computed by ingest's
own job (``storage.rollups.Rollup`` on ingest's writer and layout; ingest would also find the
backlog by itself, at its next round, ``rollup_every_s`` later).

Why the gateway's outbox, and not a publisher of its own: readings are tagged with their field
by the (gateway, device) that sent them, so the history must come from the demo gateway's own
devices, and then its sequence numbers must be the gateway's. The outbox's AUTOINCREMENT is the
one authority for those numbers: the season takes 1..N, the live readings continue at N+1. A
separate publisher numbering 1..N would collide with the live gateway starting at 1 in its fresh
state directory: ingest would count the live readings as duplicates, the sequence audit would
count the span between them as missing, and an ack for a history number would delete the live
reading with that number from the outbox before it was stored. History devices of their own
(another gateway id) would give each field two probes, one of them silent from today on (a
"no data" alert two hours later), and split its charts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gateway.config import GatewayConfig
from gateway.outbox import Outbox, OutboxRow
from gateway.validation import Validator
from ingest.config import IngestConfig
from ingest.service import open_writer
from registry.people import User
from registry.records import FieldRecord, NewRecord, add_record
from registry.store import Registry
from storage.rollups import Rollup
from tani.demo_season_model import Season, SeasonField, build_season
from tani.demo_season_weather import SeasonSpec
from telemetry.acks import AckError, decode_ack
from telemetry.topics import ack_topic

log = logging.getLogger(__name__)

OUTBOX_FILE = "outbox.sqlite3"  # in the gateway's state_dir, as gateway.service opens it
_PUT_CHUNK = 20_000
_BOOT_ID = "demo-season"  # the rows carry their true time: no clock to wait for
_ENTERED_HOUR = 18  # records are entered in the evening of their day


class SeasonNotStored(RuntimeError):
    """The season did not get through the pipeline in time; the message says how far it got."""


@dataclass(frozen=True, slots=True)
class SeasonReport:
    """What the backfill stored and how long it took (seconds from start to rollups done)."""

    readings: int
    days: int
    records: int
    first_seq: int
    last_seq: int
    rollup_points: int
    seconds: float
    seconds_to_confirm: float


def backfill_season(
    gateway: GatewayConfig,
    ingest: IngestConfig,
    fields: tuple[SeasonField, ...],
    station: str,
    end_ms: int,
    start_gateway: Callable[[], None],
    *,
    days: int = 75,
    step_s: int = 900,
    timeout_s: float = 60.0,
) -> SeasonReport:
    """Build the season ending before ``end_ms``, record what the farmers did, put the readings
    in the gateway's outbox, call ``start_gateway`` (the gateway must not be running before),
    wait until ingest confirmed every reading, then roll up their days.

    Raises ``SeasonNotStored`` when ingest has not confirmed them all within ``timeout_s``.
    """
    started = time.monotonic()
    offset_h = ingest.influx.utc_offset_h
    spec = SeasonSpec(end_ms=end_ms, days=days, step_s=step_s, utc_offset_h=offset_h)
    season = build_season(spec, fields, station)
    records = write_records(ingest.registry_url, spec, season)
    first_seq, last_seq = fill_outbox(gateway, season)
    first_ms = min(rows[0][0] for rows in season.readings.values())
    with AckWatch(gateway, first_seq, last_seq) as watch:
        start_gateway()
        if not watch.wait(timeout_s):
            raise SeasonNotStored(
                f"ingest confirmed {watch.confirmed} of the season's {watch.expected} readings "
                f"(sequence numbers {first_seq}-{last_seq} of {gateway.gateway_id}) within "
                f"{timeout_s:.0f} s; the gateway keeps the rest in its outbox and sends them "
                "again. Is ingest running and writing to InfluxDB? (see the log above)"
            )
    confirmed_s = time.monotonic() - started
    writer = open_writer(ingest)
    try:
        run = Rollup(writer, writer.layout).run_once(time.time_ns() // 1_000_000, first_ms)
    finally:
        writer.close()
    report = SeasonReport(
        readings=last_seq - first_seq + 1,
        days=days,
        records=records,
        first_seq=first_seq,
        last_seq=last_seq,
        rollup_points=run.points_written,
        seconds=round(time.monotonic() - started, 2),
        seconds_to_confirm=round(confirmed_s, 2),
    )
    log.info("demo season stored", extra={"gateway_id": gateway.gateway_id, **asdict(report)})
    return report


def write_records(registry_url: str, spec: SeasonSpec, season: Season) -> int:
    """Replace the season's fields' records with the season's, through ``add_record`` (a
    planting sets the field's crop and day, as when a farmer enters it); how many."""
    registry = Registry(registry_url)
    try:
        with Session(registry.engine) as session, session.begin():
            field_ids = sorted({field_id for field_id, _ in season.records})
            session.execute(delete(FieldRecord).where(FieldRecord.field_id.in_(field_ids)))
            people = {name: uid for name, uid in session.execute(select(User.username, User.id))}
            for field_id, act in sorted(season.records, key=lambda r: -r[1].days_ago):
                day = spec.day_ago(act.days_ago)
                evening = datetime(day.year, day.month, day.day, tzinfo=spec.zone) + timedelta(
                    hours=_ENTERED_HOUR
                )
                add_record(
                    session,
                    field_id,
                    NewRecord(act.kind, day, act.amount, act.product, act.note),
                    entered_by_id=people.get(act.entered_by),
                    now_ms=min(int(evening.timestamp() * 1000), spec.end_ms),
                )
    finally:
        registry.close()
    return len(season.records)


def fill_outbox(gateway: GatewayConfig, season: Season) -> tuple[int, int]:
    """Commit the season's readings to the gateway's outbox, oldest first, flagged by the
    gateway's own validator; the (first, last) sequence numbers they got."""
    validator = Validator()
    rows = sorted(
        (t, device, quantity, value)
        for device, series in season.readings.items()
        for t, values in series
        for quantity, value in values.items()
    )
    outbox = Outbox(gateway.state_dir / OUTBOX_FILE, gateway.gateway_id)
    try:
        first = outbox.max_seq() + 1
        for i in range(0, len(rows), _PUT_CHUNK):
            outbox.put(
                [
                    OutboxRow(
                        device,
                        quantity,
                        value,
                        validator.classify(device, quantity, value, t * 1_000_000),
                        t,
                        t,
                        t * 1_000_000,
                        _BOOT_ID,
                    )
                    for t, device, quantity, value in rows[i : i + _PUT_CHUNK]
                ]
            )
        last = outbox.max_seq()
    finally:
        outbox.close()
    if last - first + 1 != len(rows):
        raise SeasonNotStored(f"the outbox numbered {last - first + 1} of {len(rows)} readings")
    return first, last


class AckWatch:
    """Ingest's confirmations of sequence numbers [first, last], heard on the gateway's ack topic
    with the gateway's own login (the broker lets a gateway read only its own acks)."""

    def __init__(self, gateway: GatewayConfig, first: int, last: int) -> None:
        self.expected = last - first + 1
        self._first, self._last = first, last
        self._seen = bytearray(self.expected)
        self._count = 0
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._subscribed = threading.Event()
        self._topic = ack_topic(gateway.gateway_id)
        settings = gateway.mqtt
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"{gateway.gateway_id}-demo-season",
            protocol=mqtt.MQTTv5,
        )
        self._client.username_pw_set(settings.username, settings.password)
        if settings.tls:
            self._client.tls_set(ca_certs=str(settings.ca_file) if settings.ca_file else None)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._refused = False
        self._client.on_message = self._on_message
        self._host, self._port = settings.host, settings.port

    @property
    def confirmed(self) -> int:
        """How many of the sequence numbers ingest has confirmed."""
        with self._lock:
            return self._count

    def __enter__(self) -> AckWatch:
        where = f"{self._topic} at {self._host}:{self._port} with the gateway's login"
        try:
            self._client.connect(self._host, self._port, clean_start=True)
        except OSError as exc:
            raise SeasonNotStored(f"cannot listen to {where}: {exc}") from exc
        self._client.loop_start()
        if not self._subscribed.wait(10) or self._refused:
            self.__exit__()
            raise SeasonNotStored(f"the broker did not let the demo subscribe to {where}")
        return self

    def __exit__(self, *_: object) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def wait(self, timeout_s: float) -> bool:
        """Whether every sequence number is confirmed within ``timeout_s``."""
        return self._done.wait(timeout_s)

    def _on_connect(self, client: mqtt.Client, *args: object) -> None:
        client.subscribe(self._topic, qos=1)

    def _on_subscribe(
        self, client: mqtt.Client, userdata: object, mid: int, codes: list[Any], *_: object
    ) -> None:
        self._refused = any(code.is_failure for code in codes)
        self._subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        try:
            ack = decode_ack(msg.payload)
        except AckError as exc:
            log.warning(f"not an ack on {msg.topic}: {exc}")
            return
        with self._lock:
            for first, last in ack.ranges:
                for seq in range(max(first, self._first), min(last, self._last) + 1):
                    index = seq - self._first
                    if not self._seen[index]:
                        self._seen[index] = 1
                        self._count += 1
            if self._count == self.expected:
                self._done.set()
