"""The site the browser tests look at, fed by real processes.

Two villages, three fields, two gateways. A week of readings is encoded with the wire codec
and published with each gateway's own MQTT account to the real Mosquitto; the real ingest
writes them to the real influxd; the hourly and daily rollups are brought up to date; the real
alert evaluator then reads the last hours back from InfluxDB and raises a dry-soil alert on
every field (their soil dried out three hours ago). The real API application serves it all
under uvicorn, in a thread, on a free port.

People (password ``PASSWORD`` for all):

- ``budi``: farmer in Bumi Agung, owns ``sawah-budi``;
- ``siti``: farmer in Gunung Labuhan, owns ``sawah-siti``;
- ``ppl-sari``: extension officer for Bumi Agung only;
- ``desa-bumi``: the Bumi Agung village office.

``ladang-desa`` and ``kebun-desa`` are Bumi Agung fields of nobody's (the village's
demonstration plots); the officer resolves the alert of ``kebun-desa``, the others stay open.
Siti's second field, ``kebun-siti``, has its own gateway, silent for the last four hours.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.config import EvaluationSettings
from alerts.evaluator import Evaluator, wall_ms
from alerts.local_time import local_moment
from alerts.rules import RuleIn, upsert_rule
from alerts.water_job import WaterJob
from api.config import ApiConfig, InfluxSettings
from ingest.config import AckSettings, BatchSettings, IngestConfig
from ingest.config import InfluxSettings as IngestInflux
from ingest.config import MqttSettings as IngestMqtt
from ingest.service import Ingest
from registry.alerting import Alert
from registry.directory import (
    DeviceIn,
    FieldIn,
    GatewayIn,
    UserIn,
    VillageIn,
    create_user,
    upsert_device,
    upsert_field,
    upsert_gateway,
    upsert_village,
)
from registry.models import Field
from registry.store import Registry
from storage.influx import InfluxDB
from storage.queries import count_readings_since
from storage.rollups import Rollup, StorageLayout
from storage.writers import InfluxWriter
from tani.stack import Stack
from telemetry.codec import encode_batch
from telemetry.reading import Quality, Reading
from telemetry.topics import readings_topic
from tests.integration.support import serve_api, wait_for

PASSWORD = "padi-menguning-2026"
DATABASE = "browser"
HOUR_MS = 3_600_000
_STEP_MS = 30 * 60_000  # one reading of each quantity every 30 minutes
_DAYS = 7
_DRY_FOR_MS = 3 * HOUR_MS  # the soil has been dry this long when the site is built
_PER_MESSAGE = 2_000  # readings per MQTT message (a gateway's outbox sends batches too)

VILLAGES = {"bumi-agung": "Bumi Agung", "gunung-labuhan": "Gunung Labuhan"}
# field id -> (name, village, crop, owner)
FIELDS = {
    "sawah-budi": ("Sawah Pak Budi", "bumi-agung", "padi", "budi"),
    "ladang-desa": ("Ladang Contoh Desa", "bumi-agung", "jagung", None),
    "kebun-desa": ("Kebun Kopi Desa", "bumi-agung", "kopi", None),
    "sawah-siti": ("Sawah Bu Siti", "gunung-labuhan", "padi", "siti"),
    "kebun-siti": ("Kebun Singkong Bu Siti", "gunung-labuhan", "singkong", "siti"),
}
# gateway id -> (village, [(device id, kind, field)])
GATEWAYS = {
    "gw-bumi-agung": (
        "bumi-agung",
        [
            ("tanah-budi", "modbus_soil", "sawah-budi"),
            ("cuaca-budi", "ascii_weather", "sawah-budi"),
            ("tanah-ladang", "sdi12_soil", "ladang-desa"),
            ("tanah-kebun", "sdi12_soil", "kebun-desa"),
        ],
    ),
    "gw-gunung-labuhan": (
        "gunung-labuhan",
        [
            ("tanah-siti", "modbus_soil", "sawah-siti"),
            ("cuaca-siti", "ascii_weather", "sawah-siti"),
        ],
    ),
    "gw-kebun-siti": ("gunung-labuhan", [("tanah-kebun-siti", "modbus_soil", "kebun-siti")]),
}
# Gateways that fell silent this long before the others' last reading (stale data on pages).
SILENT_MS = {"gw-kebun-siti": 4 * HOUR_MS}
# username -> UserIn fields
PEOPLE: dict[str, dict[str, object]] = {
    "budi": {"full_name": "Budi Santoso", "role": "farmer", "village_id": "bumi-agung"},
    "siti": {"full_name": "Siti Aminah", "role": "farmer", "village_id": "gunung-labuhan"},
    "ppl-sari": {"full_name": "Sari Wulandari", "role": "officer", "villages": ["bumi-agung"]},
    "desa-bumi": {
        "full_name": "Kantor Desa Bumi Agung",
        "role": "village_office",
        "village_id": "bumi-agung",
    },
}
DRY_RULE = RuleIn(
    name="tanah-kering",
    kind="below",
    quantity="soil_moisture",
    threshold=18.0,
    clear_threshold=22.0,
    duration_s=30 * 60,
    severity="warning",
)


@dataclass(frozen=True)
class BrowserSite:
    """The running site: its address and the ids the tests refer to."""

    base_url: str
    registry: Registry
    alerts: dict[str, int]  # field id -> id of its open dry-soil alert
    last_reading_ms: int

    def url(self, path: str) -> str:
        return self.base_url + path


def _soil(field: int, t_ms: int, dry_from_ms: int) -> dict[str, float]:
    """A plausible soil probe: moist rice-field soil that dried out at ``dry_from_ms``."""
    day = 2 * math.pi * (t_ms % (24 * HOUR_MS)) / (24 * HOUR_MS)
    moisture = 12.0 - field if t_ms >= dry_from_ms else 38.0 + 4 * math.sin(day / 7 + field)
    return {
        "soil_moisture": round(moisture, 1),
        "soil_temperature": round(27.0 + 2.5 * math.sin(day - 2), 1),
        "soil_ph": round(6.2 + 0.1 * field, 2),
        "soil_ec": 450.0 + 10 * field,
        "soil_nitrogen": 38.0 + field,
        "soil_phosphorus": 21.0,
        "soil_potassium": 95.0 + 3 * field,
    }


def _weather(field: int, t_ms: int, start_ms: int) -> dict[str, float]:
    """Air temperature and humidity through the day; a shower on the third afternoon."""
    day = 2 * math.pi * (t_ms % (24 * HOUR_MS)) / (24 * HOUR_MS)
    shower = 2 * 24 * HOUR_MS + 8 * HOUR_MS <= t_ms - start_ms < 2 * 24 * HOUR_MS + 10 * HOUR_MS
    return {
        "air_temperature": round(29.0 + 4 * math.sin(day - 2) + 0.3 * field, 1),
        "air_humidity": round(78.0 - 12 * math.sin(day - 2), 1),
        "rain": 4.5 if shower else 0.0,
    }


_UNITS = {
    "soil_moisture": "%",
    "soil_temperature": "degC",
    "soil_ph": "pH",
    "soil_ec": "uS/cm",
    "soil_nitrogen": "mg/kg",
    "soil_phosphorus": "mg/kg",
    "soil_potassium": "mg/kg",
    "air_temperature": "degC",
    "air_humidity": "%",
    "rain": "mm",
}


def _readings(gateway_id: str, start_ms: int, end_ms: int) -> list[Reading]:
    """A week of readings of every device of a gateway, the soil dry for its last hours."""
    rows: list[Reading] = []
    seq = 0
    dry_from_ms = end_ms - _DRY_FOR_MS
    for t_ms in range(start_ms, end_ms + 1, _STEP_MS):
        for index, (device_id, kind, field_id) in enumerate(GATEWAYS[gateway_id][1]):
            number = list(FIELDS).index(field_id)
            if kind == "ascii_weather":
                values = _weather(number, t_ms, start_ms)
            else:
                values = _soil(number, t_ms, dry_from_ms)
            for quantity, value in values.items():
                seq += 1
                rows.append(
                    Reading(
                        gateway_id,
                        device_id,
                        quantity,
                        value,
                        _UNITS[quantity],
                        t_ms + index * 1000,
                        Quality.GOOD,
                        seq,
                    )
                )
    return rows


def _seed_registry(registry: Registry, now_ms: int) -> None:
    with Session(registry.engine) as session:
        for village_id, name in VILLAGES.items():
            upsert_village(session, VillageIn(id=village_id, name=name, district="Way Kanan"))
        for username, fields in PEOPLE.items():
            create_user(
                session, UserIn.model_validate({"username": username, **fields}), PASSWORD, now_ms
            )
        for field_id, (name, village_id, crop, owner) in FIELDS.items():
            upsert_field(
                session,
                FieldIn(id=field_id, name=name, village_id=village_id, crop=crop, owner=owner),
            )
        for gateway_id, (village_id, devices) in GATEWAYS.items():
            upsert_gateway(
                session,
                GatewayIn(id=gateway_id, name=f"Gateway {gateway_id}", village_id=village_id),
            )
            for device_id, kind, field_id in devices:
                upsert_device(
                    session,
                    DeviceIn(gateway_id=gateway_id, id=device_id, kind=kind, field_id=field_id),
                )
        upsert_rule(session, DRY_RULE)
        # The village's maize plot: planted two months ago on loam, so its water balance (and
        # the village summary's water numbers) have a season behind them.
        today = local_moment(now_ms, 7).date()
        for field in session.scalars(select(Field).where(Field.village_id == "bumi-agung")):
            field.latitude, field.elevation_m = -4.5, 60.0
            if field.id == "ladang-desa":
                field.planted_on = today - timedelta(days=60)
                field.soil_texture, field.area_m2 = "loam", 2500.0
        session.commit()


def _publish(stack: Stack, influx: InfluxDB, gateway_id: str, rows: list[Reading]) -> None:
    """Send ``rows`` as the gateway does (its own account, QoS 1); wait until all are stored."""
    account = stack.add_mqtt_user(gateway_id, "gateway")
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"{gateway_id}-browser", protocol=mqtt.MQTTv5
    )
    client.username_pw_set(account.username, account.password)
    client.connect(stack.mqtt_host, stack.mqtt_port)
    client.loop_start()
    try:
        for i in range(0, len(rows), _PER_MESSAGE):
            payload = encode_batch(gateway_id, rows[i : i + _PER_MESSAGE])
            client.publish(readings_topic(gateway_id), payload, qos=1).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()
    wait_for(
        lambda: count_readings_since(influx, gateway_id, 0) >= len(rows),
        timeout=30,
        what=f"{len(rows)} readings of {gateway_id} in InfluxDB",
    )


@contextmanager
def _ingest(stack: Stack, tmp_path: Path, registry_url: str) -> Iterator[Ingest]:
    service = stack.add_mqtt_user("ingest-browser", "service")
    ingest = Ingest(
        IngestConfig(
            acks=AckSettings(delay_s=0.2),
            mqtt=IngestMqtt(
                host=stack.mqtt_host,
                port=stack.mqtt_port,
                username=service.username,
                password=service.password,
                client_id="ingest-browser",
                # Everything sent is stored before ingest stops (see _publish): no session
                # needs to outlive it, queueing other tests' readings at the broker.
                session_expiry_s=0,
            ),
            influx=IngestInflux(url=stack.influx_url, database=DATABASE),
            batch=BatchSettings(max_delay_s=0.1),
            registry_url=registry_url,
            deadletters_path=tmp_path / "deadletters.sqlite3",
            quarantine_path=tmp_path / "quarantine.sqlite3",
            rollup_every_s=0,  # brought up to date once, below, when everything is stored
        )
    )
    ingest.start()
    try:
        assert ingest.wait_subscribed(15), "ingest never subscribed"
        yield ingest
    finally:
        ingest.stop()


@contextmanager
def browser_site(stack: Stack, tmp_path: Path) -> Iterator[BrowserSite]:
    """Build the site described above and serve it; everything stopped afterwards."""
    registry_url = f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    now_ms = wall_ms()
    # Readings on the half hour, the last one a few minutes ago: the pages show fresh data.
    end_ms = (now_ms - 5 * 60_000) // _STEP_MS * _STEP_MS
    start_ms = end_ms - _DAYS * 24 * HOUR_MS
    with ExitStack() as stack_of:
        registry = Registry(registry_url)
        stack_of.callback(registry.close)
        _seed_registry(registry, now_ms)
        influx = InfluxDB(stack.influx_url, DATABASE)
        stack_of.callback(influx.close)
        with _ingest(stack, tmp_path, registry_url):
            for gateway_id in GATEWAYS:
                until_ms = end_ms - SILENT_MS.get(gateway_id, 0)
                _publish(stack, influx, gateway_id, _readings(gateway_id, start_ms, until_ms))
        last_ms = end_ms + 2000
        # What ingest's rollup thread does every 15 minutes, once, over the whole week.
        writer = InfluxWriter(stack.influx_url, DATABASE, layout=StorageLayout(utc_offset_h=7))
        stack_of.callback(writer.close)
        Rollup(writer, writer.layout).run_once(wall_ms(), since_ms=start_ms)
        report = Evaluator(
            registry, influx, EvaluationSettings(), clock=lambda: last_ms + 1000
        ).run_once()
        assert report.opened == len(FIELDS), f"expected a dry-soil alert per field: {report}"
        # What the alerts service's water thread does every 10 minutes, once.
        WaterJob(registry, influx, 7).run_once()
        with Session(registry.engine) as session:
            alerts = {a.field_id: a.id for a in session.scalars(select(Alert))}
        config = ApiConfig(
            registry_url=registry_url,
            influx=InfluxSettings(url=stack.influx_url, database=DATABASE),
        )
        base_url = stack_of.enter_context(serve_api(config))
        yield BrowserSite(base_url, registry, alerts, last_ms)
