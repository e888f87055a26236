"""A small alerting site for integration tests: registry, ingest and a gateway's readings.

Readings are encoded with the wire codec and published with the gateway's own MQTT account to
the real Mosquitto; the real ingest writes them to the real influxd; the evaluator reads them
back from there. Reading times are chosen by the test, so a 30-minute rule is tested in
seconds: the evaluator judges by the readings' own time.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.config import EvaluationSettings
from alerts.evaluator import Evaluator
from ingest.config import AckSettings, BatchSettings, IngestConfig
from ingest.config import InfluxSettings as IngestInflux
from ingest.config import MqttSettings as IngestMqtt
from ingest.service import Ingest
from registry.alerting import Alert, AlertRule, Delivery
from registry.people import Channel, Role, User, officer_villages
from registry.store import DeviceEntry, FieldEntry, GatewayEntry, Registry, SiteFile, VillageEntry
from storage.influx import InfluxDB
from storage.queries import count_readings_since
from tani.stack import Stack
from telemetry.codec import encode_batch
from telemetry.reading import Quality, Reading
from telemetry.topics import readings_topic
from tests.integration.support import wait_for

MINUTE_MS = 60_000
_run = itertools.count()


@dataclass
class AlertSite:
    """One village, one rice field, one gateway with a soil probe, ingest running."""

    stack: Stack
    registry: Registry
    registry_url: str
    influx: InfluxDB
    gateway_id: str
    database: str
    client: mqtt.Client
    stored: int = 0
    seq: int = 0

    def publish(self, start_ms: int, values: list[float], every_min: int = 5) -> int:
        """Send soil moisture readings from ``start_ms`` on; wait until InfluxDB holds them.
        Returns the time of the last one."""
        rows = []
        for index, value in enumerate(values):
            self.seq += 1
            rows.append(
                Reading(
                    self.gateway_id,
                    "soil-1",
                    "soil_moisture",
                    value,
                    "%",
                    start_ms + index * every_min * MINUTE_MS,
                    Quality.GOOD,
                    self.seq,
                )
            )
        payload = encode_batch(self.gateway_id, rows)
        self.client.publish(readings_topic(self.gateway_id), payload, qos=1).wait_for_publish(10)
        self.stored += len(rows)
        wait_for(
            lambda: count_readings_since(self.influx, self.gateway_id, 0) >= self.stored,
            what=f"{self.stored} readings in InfluxDB",
        )
        return rows[-1].time_ms

    def evaluator(self, now_ms: int, **settings: object) -> Evaluator:
        """An evaluator whose clock says ``now_ms``."""
        return Evaluator(
            self.registry,
            self.influx,
            EvaluationSettings(**{"clear_hold_s": 600, **settings}),
            clock=lambda: now_ms,
        )

    def add_rule(self, **columns: object) -> None:
        with Session(self.registry.engine) as session, session.begin():
            session.add(AlertRule(**columns))

    def alerts(self) -> list[Alert]:
        with Session(self.registry.engine, expire_on_commit=False) as session:
            return list(session.scalars(select(Alert).order_by(Alert.id)))

    def deliveries(self, purpose: str | None = None) -> list[Delivery]:
        with Session(self.registry.engine) as session:
            query = select(Delivery).order_by(Delivery.id)
            if purpose:
                query = query.where(Delivery.purpose == purpose)
            return list(session.scalars(query))


@contextmanager
def alert_site(stack: Stack, tmp_path: Path, channel_url: str | None = None) -> Iterator[AlertSite]:
    """Registry with the site and an officer (with ``channel_url`` if given), ingest running."""
    run = next(_run)
    gateway_id, database = f"gw-alert-{run}", f"alerts_{run}"
    registry_url = f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    registry = Registry(registry_url)
    registry.apply(
        SiteFile(
            villages=[VillageEntry(id="bumi-agung", name="Bumi Agung")],
            fields=[
                FieldEntry(id="sawah-budi", name="Sawah Budi", village="bumi-agung", crop="padi")
            ],
            gateways=[
                GatewayEntry(
                    id=gateway_id,
                    name="Gateway Bumi Agung",
                    devices=[DeviceEntry(id="soil-1", kind="modbus_soil", field="sawah-budi")],
                )
            ],
        )
    )
    with Session(registry.engine) as session, session.begin():
        officer = User(username="ppl-sari", full_name="Sari", role=Role.OFFICER.value, created_ms=0)
        session.add(officer)
        session.flush()
        session.execute(
            officer_villages.insert().values(user_id=officer.id, village_id="bumi-agung")
        )
        if channel_url:
            session.add(Channel(name="Sari", url=channel_url, user_id=officer.id))
    gw = stack.add_mqtt_user(gateway_id, "gateway")
    service = stack.add_mqtt_user("ingest-alerts", "service")
    ingest = Ingest(
        IngestConfig(
            acks=AckSettings(delay_s=0.2),
            mqtt=IngestMqtt(
                host=stack.mqtt_host,
                port=stack.mqtt_port,
                username=service.username,
                password=service.password,
                client_id=f"ingest-alerts-{run}",
            ),
            influx=IngestInflux(url=stack.influx_url, database=database),
            batch=BatchSettings(max_delay_s=0.1),
            registry_url=registry_url,
            deadletters_path=tmp_path / "deadletters.sqlite3",
            quarantine_path=tmp_path / "quarantine.sqlite3",
        )
    )
    ingest.start()
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=gateway_id, protocol=mqtt.MQTTv5
    )
    client.username_pw_set(gw.username, gw.password)
    client.connect(stack.mqtt_host, stack.mqtt_port)
    client.loop_start()
    influx = InfluxDB(stack.influx_url, database)
    try:
        assert ingest.wait_subscribed(15), "ingest never subscribed"
        yield AlertSite(stack, registry, registry_url, influx, gateway_id, database, client)
    finally:
        client.disconnect()
        client.loop_stop()
        ingest.stop()
        influx.close()
        registry.close()
