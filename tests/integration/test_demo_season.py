"""The demo's season over real parts: the demo site seeded into a registry, twenty days of its
readings committed to a real gateway's outbox and sent by that gateway (its own MQTT login, the
wire codec) to the real Mosquitto, written by the real ingest into influxd, confirmed end to end
and rolled up by ingest's rollup job; the water advice then reads them as the pages do."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from agronomy.advice import Action
from agronomy.moisture import crop_limits
from alerts.field_water import fields_water
from gateway.config import GatewayConfig, PublishSettings
from gateway.config import MqttSettings as GatewayMqtt
from gateway.outbox import Outbox
from gateway.service import Gateway
from ingest.config import AckSettings, BatchSettings, InfluxSettings, IngestConfig
from ingest.config import MqttSettings as IngestMqtt
from ingest.service import Ingest
from registry.models import Field
from registry.records import FieldRecord, RecordKind
from registry.store import Registry
from storage.field_days import village_days
from storage.influx import InfluxDB
from storage.queries import count_readings_since
from tani.demo_inbox import DemoInbox
from tani.demo_season import OUTBOX_FILE, SeasonNotStored, backfill_season
from tani.demo_season_weather import SeasonSpec
from tani.demo_site import (
    COFFEE_FIELD_ID,
    DEMO_FIELDS,
    FIELD_ID,
    GATEWAY_ID,
    RICE_FIELD_ID,
    VILLAGE_ID,
    WEATHER_ID,
    seed,
)
from tani.stack import Stack

pytestmark = pytest.mark.integration

DATABASE = "demo_season"
DAYS = 20
DAY_MS = 86_400_000


class _Gateway:
    """A gateway the backfill starts once its outbox holds the season; stopped if it was."""

    def __init__(self, config: GatewayConfig) -> None:
        self.gateway = Gateway(config)
        self._running = False

    def start(self) -> None:
        self.gateway.start()
        self._running = True

    def stop(self) -> None:
        if self._running:
            self.gateway.stop(drain_timeout_s=0)


@contextmanager
def _parts(stack: Stack, tmp_path: Path) -> Iterator[tuple[GatewayConfig, IngestConfig, Ingest]]:
    """The demo site in a registry, a running ingest and a (not yet started) gateway config."""
    registry_url = f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    inbox = DemoInbox(lambda _: None)
    inbox.start()
    registry = Registry(registry_url)
    try:
        seed(registry, inbox, int(time.time() * 1000))
    finally:
        registry.close()
        inbox.stop()
    gw = stack.add_mqtt_user(GATEWAY_ID, "gateway")
    service = stack.add_mqtt_user("ingest-demo-season", "service")
    gateway = GatewayConfig(
        gateway_id=GATEWAY_ID,
        state_dir=tmp_path / "gateway",
        mqtt=GatewayMqtt(
            host=stack.mqtt_host, port=stack.mqtt_port, username=gw.username, password=gw.password
        ),
        publish=PublishSettings(interval_s=0.2),
    )
    ingest_config = IngestConfig(
        acks=AckSettings(delay_s=0.2),
        mqtt=IngestMqtt(
            host=stack.mqtt_host,
            port=stack.mqtt_port,
            username=service.username,
            password=service.password,
            client_id="ingest-demo-season",
            session_expiry_s=0,
        ),
        influx=InfluxSettings(url=stack.influx_url, database=DATABASE),
        batch=BatchSettings(max_delay_s=0.1),
        registry_url=registry_url,
        deadletters_path=tmp_path / "deadletters.sqlite3",
        quarantine_path=tmp_path / "quarantine.sqlite3",
        rollup_every_s=0,  # the backfill rolls its days up through ingest's own job
    )
    ingest = Ingest(ingest_config)
    ingest.start()
    try:
        assert ingest.wait_subscribed(15), "ingest never subscribed"
        yield gateway, ingest_config, ingest
    finally:
        ingest.stop()


def test_the_season_goes_through_the_pipeline_and_leaves_the_maize_dry(
    stack: Stack, tmp_path: Path
) -> None:
    threads_before = set(threading.enumerate())
    end_ms = int(time.time() * 1000)
    spec = SeasonSpec(end_ms=end_ms, days=DAYS)
    influx = InfluxDB(stack.influx_url, DATABASE)
    with _parts(stack, tmp_path) as (gateway_config, ingest_config, ingest):
        gateway = _Gateway(gateway_config)
        try:
            report = backfill_season(
                gateway_config,
                ingest_config,
                DEMO_FIELDS,
                WEATHER_ID,
                end_ms,
                gateway.start,
                days=DAYS,
                timeout_s=40,
            )
            # The gateway deletes each reading as ingest confirms it: its outbox empties, and
            # its own readings would continue the sequence after the season's.
            assert report.first_seq == 1
            assert _outbox_empties(gateway.gateway)
        finally:
            gateway.stop()
        stats = ingest.stats()

    # Every reading confirmed by ingest, stored once, none refused, held or counted twice.
    per_day = 24 * 3600 // spec.step_s * (7 + 7 + 7)  # station and two 7-in-1 probes
    assert report.readings == len(spec.times()) * 21 and report.readings > (DAYS - 1) * per_day
    assert count_readings_since(influx, GATEWAY_ID, 0) == report.readings
    assert stats.readings_written == report.readings
    assert (stats.dead_letters, stats.readings_held, stats.duplicate_readings) == (0, 0, 0)

    # A daily rollup for every day of the season, every hour of every full day.
    days = village_days(influx, VILLAGE_ID, end_ms - (DAYS + 1) * DAY_MS, end_ms + DAY_MS)
    by_series = {(k.field_id, k.device_id, k.quantity): v for k, v in days.items()}
    season_days = {spec.day_ago(n) for n in range(DAYS)}
    for key in ((FIELD_ID, "soil-1", "soil_moisture"), (FIELD_ID, WEATHER_ID, "rain")):
        got = {spec.local_day(ms) for ms in by_series[key]}
        assert got == season_days, key
    temperature = by_series[(FIELD_ID, WEATHER_ID, "air_temperature")]
    assert all(s.hours == 24 for ms, s in temperature.items() if spec.local_day(ms) != spec.today)
    assert (COFFEE_FIELD_ID, "soil-2", "soil_moisture") in by_series

    # The dry spell leaves the maize below its dry limit, and the advice says to water now.
    with Session(Registry(ingest_config.registry_url).engine) as session:
        maize = session.get(Field, FIELD_ID)
        assert maize is not None and maize.crop == "jagung"
        dry = crop_limits("jagung", DEMO_FIELDS[0].soil).dry
        moisture = by_series[(FIELD_ID, "soil-1", "soil_moisture")]
        last_two = [moisture[ms] for ms in sorted(moisture)[-2:]]
        assert all(day.mean < dry for day in last_two), (dry, last_two)
        water = fields_water(session, influx, [maize], spec.today, 7)[FIELD_ID]
        assert water.advice is not None and water.advice.action is Action.WATER_NOW

        # The farmers' records: plantings, the maize's liming and irrigations before the spell.
        records = session.scalars(select(FieldRecord)).all()
        kinds = {(r.field_id, r.kind) for r in records}
        for field_id in (FIELD_ID, RICE_FIELD_ID, COFFEE_FIELD_ID):
            assert (field_id, RecordKind.PLANTING.value) in kinds
        assert (FIELD_ID, RecordKind.LIME.value) in kinds
        irrigated = [r.day for r in records if (r.field_id, r.kind) == (FIELD_ID, "irrigation")]
        assert len(irrigated) == 2
        assert all(day < spec.today - timedelta(days=spec.dry_spell_days) for day in irrigated)
        assert all(r.entered_ms <= end_ms for r in records)
    influx.close()
    leftover = set(threading.enumerate()) - threads_before
    assert not [t for t in leftover if t.is_alive()], leftover


def _outbox_empties(gateway: Gateway) -> bool:
    deadline = time.monotonic() + 5
    while gateway.stats().outbox_depth:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_a_season_nobody_confirms_fails_loudly(stack: Stack, tmp_path: Path) -> None:
    """Without ingest, nothing is confirmed: the backfill says so by its deadline."""
    gw = stack.add_mqtt_user(GATEWAY_ID, "gateway")
    gateway_config = GatewayConfig(
        gateway_id=GATEWAY_ID,
        state_dir=tmp_path / "gateway",
        mqtt=GatewayMqtt(
            host=stack.mqtt_host, port=stack.mqtt_port, username=gw.username, password=gw.password
        ),
    )
    registry_url = f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    inbox = DemoInbox(lambda _: None)
    inbox.start()
    registry = Registry(registry_url)
    try:
        seed(registry, inbox, int(time.time() * 1000))
    finally:
        registry.close()
        inbox.stop()
    ingest_config = IngestConfig(
        mqtt=IngestMqtt(username="nobody", password="unused"),
        registry_url=registry_url,
    )
    gateway = _Gateway(gateway_config)
    try:
        with pytest.raises(SeasonNotStored, match=r"ingest confirmed 0 of the season's"):
            backfill_season(
                gateway_config,
                ingest_config,
                DEMO_FIELDS,
                WEATHER_ID,
                int(time.time() * 1000),
                gateway.start,
                days=1,
                step_s=3600,
                timeout_s=2,
            )
    finally:
        gateway.stop()
    # Nothing is lost: the season waits in the gateway's outbox.
    outbox = Outbox(tmp_path / "gateway" / OUTBOX_FILE, GATEWAY_ID)
    try:
        assert outbox.depth() > 0
    finally:
        outbox.close()
