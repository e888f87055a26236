"""The real pipeline for integration tests: emulated devices -> gateway -> Mosquitto -> ingest.

One field with a 7-in-1 soil probe (``soil-1``, Modbus RTU) and a weather station
(``weather-1``, ASCII lines) on pseudo-terminals, read by a real gateway that publishes to the
``stack``'s Mosquitto, where a real ingest writes them into the stack's influxd.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from firmware_sim.site import SimulatedSite, SiteConfig
from gateway.clock import Clock
from gateway.config import (
    GatewayConfig,
    ModbusBusSettings,
    ProbeSettings,
    PublishSettings,
    WeatherStationSettings,
)
from gateway.config import MqttSettings as GatewayMqtt
from gateway.service import Gateway
from ingest.config import AckSettings, BatchSettings, InfluxSettings, IngestConfig
from ingest.config import MqttSettings as IngestMqtt
from ingest.service import Ingest
from registry.store import DeviceEntry, FieldEntry, GatewayEntry, Registry, SiteFile, VillageEntry
from tani.stack import Stack


@dataclass(frozen=True)
class Place:
    """Where the pipeline's devices are, and where their readings go."""

    village_id: str
    field_id: str
    gateway_id: str
    database: str


@dataclass
class Pipeline:
    """The running parts, and the registry ingest places the devices from."""

    site: SimulatedSite
    gateway: Gateway
    ingest: Ingest
    registry_url: str


@contextmanager
def running_pipeline(
    stack: Stack,
    tmp_path: Path,
    place: Place,
    *,
    seed: int,
    health_interval_s: float = 300.0,
    rollup_every_s: float = 900.0,
    clock: Clock | None = None,
) -> Iterator[Pipeline]:
    """Run the pipeline until the block ends; then check that no thread was left running."""
    gw_user = stack.add_mqtt_user(place.gateway_id, "gateway")
    ingest_user = stack.add_mqtt_user("ingest-test", "service")
    registry_url = f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    registry = Registry(registry_url)
    registry.apply(
        SiteFile(
            villages=[VillageEntry(id=place.village_id, name=place.village_id.title())],
            fields=[
                FieldEntry(
                    id=place.field_id,
                    name=place.field_id.title(),
                    village=place.village_id,
                    crop="padi",
                )
            ],
            gateways=[
                GatewayEntry(
                    id=place.gateway_id,
                    name=place.gateway_id,
                    devices=[
                        DeviceEntry(id="soil-1", kind="modbus_soil", field=place.field_id),
                        DeviceEntry(id="weather-1", kind="ascii_weather", field=place.field_id),
                    ],
                )
            ],
        )
    )
    registry.close()
    site = SimulatedSite(SiteConfig(seed=seed, time_scale=600.0, weather_interval_s=0.5))
    ingest = Ingest(
        IngestConfig(
            acks=AckSettings(delay_s=0.2),
            mqtt=IngestMqtt(
                host=stack.mqtt_host,
                port=stack.mqtt_port,
                username=ingest_user.username,
                password=ingest_user.password,
                client_id=f"ingest-{place.gateway_id}",
            ),
            influx=InfluxSettings(url=stack.influx_url, database=place.database),
            batch=BatchSettings(max_delay_s=0.2),
            registry_url=registry_url,
            deadletters_path=tmp_path / "deadletters.sqlite3",
            quarantine_path=tmp_path / "quarantine.sqlite3",
            rollup_every_s=rollup_every_s,
        )
    )
    site.start()
    threads_before = set(threading.enumerate())
    gateway = Gateway(
        GatewayConfig(
            gateway_id=place.gateway_id,
            state_dir=tmp_path / "gateway",
            mqtt=GatewayMqtt(
                host=stack.mqtt_host,
                port=stack.mqtt_port,
                username=gw_user.username,
                password=gw_user.password,
            ),
            publish=PublishSettings(interval_s=0.2, health_interval_s=health_interval_s),
            modbus=[
                ModbusBusSettings(
                    port=site.ports["soil"],
                    interval_s=0.5,
                    probes=[ProbeSettings(device_id="soil-1", unit=1)],
                )
            ],
            weather=[
                WeatherStationSettings(
                    device_id="weather-1", port=site.ports["weather"], baudrate=4800
                )
            ],
        ),
        clock=clock,
    )
    ingest.start()
    gateway.start()
    try:
        yield Pipeline(site, gateway, ingest, registry_url)
    finally:
        gateway.stop()
        ingest.stop()
        site.stop()
    leaked = [
        t for t in set(threading.enumerate()) - threads_before if t.is_alive() and not t.daemon
    ]
    assert not leaked, f"threads left running: {leaked}"
