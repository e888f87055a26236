"""A reading travels from an emulated serial probe to the API through real Mosquitto and influxd.

Everything here is real: the soil probe and weather station are emulators on pseudo-terminals
speaking Modbus RTU and ASCII lines, read by the gateway's pyserial/pymodbus code; Mosquitto and
influxd are the Debian binaries started by the ``stack`` fixture; ingest writes over HTTP; the
API is the FastAPI application answering through its ASGI interface.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.app import create_app
from api.config import ApiConfig, BrokerSettings
from api.config import InfluxSettings as ApiInflux
from firmware_sim.site import SimulatedSite
from gateway.service import Gateway
from ingest.service import Ingest
from registry.access import issue_token
from registry.directory import UserIn, create_user
from registry.people import Role
from registry.store import Registry
from storage.influx import InfluxDB
from storage.last_values import LastValues, default_url
from tani.stack import Stack
from telemetry.topics import readings_topic
from tests.integration.pipeline import Place, running_pipeline
from tests.integration.support import matching_frame, wait_for

pytestmark = pytest.mark.integration

FIELD = "sawah-uji"
UNITS = {
    "soil_moisture": "%",
    "soil_temperature": "degC",
    "soil_ec": "uS/cm",
    "soil_ph": "pH",
    "soil_nitrogen": "mg/kg",
    "soil_phosphorus": "mg/kg",
    "soil_potassium": "mg/kg",
    "air_temperature": "degC",
    "air_humidity": "%",
    "air_pressure": "hPa",
    "wind_speed": "m/s",
    "wind_direction": "deg",
    "rain": "mm",
    "solar_radiation": "W/m2",
}
_run = itertools.count()


@dataclass
class Chain:
    site: SimulatedSite
    gateway: Gateway
    ingest: Ingest
    influx: InfluxDB
    api: TestClient
    stack: Stack
    gateway_id: str
    registry_url: str

    def points(self, quantity: str) -> list[dict[str, Any]]:
        series = self.influx.query(
            'SELECT "value", "quality", "seq", "device_id", "field_id" FROM "reading"'
            ' WHERE "gateway_id" = $gw AND "quantity" = $q',
            {"gw": self.gateway_id, "q": quantity},
        )
        return [row for s in series for row in s.rows()]


@pytest.fixture
def chain(stack: Stack, tmp_path: Path) -> Iterator[Chain]:
    run = next(_run)
    place = Place("desa-uji", FIELD, f"gw-uji-{run}", f"tani_test_{run}")
    with running_pipeline(stack, tmp_path, place, seed=run) as pipeline:
        registry = Registry(pipeline.registry_url)
        with Session(registry.engine) as session, session.begin():
            admin = create_user(
                session, UserIn(username="uji", full_name="Uji", role=Role.ADMIN), None, 0
            )
            token = issue_token(session, admin, label="test", now_ms=0)
        registry.close()
        influx = InfluxDB(stack.influx_url, place.database)
        app = create_app(
            ApiConfig(
                influx=ApiInflux(url=stack.influx_url, database=place.database),
                broker=BrokerSettings(host=stack.mqtt_host, port=stack.mqtt_port),
                registry_url=pipeline.registry_url,
            )
        )
        try:
            with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as api:
                yield Chain(
                    pipeline.site,
                    pipeline.gateway,
                    pipeline.ingest,
                    influx,
                    api,
                    stack,
                    place.gateway_id,
                    pipeline.registry_url,
                )
        finally:
            influx.close()


def _rows_by_time(chain: Chain, quantities: list[str]) -> dict[int, dict[str, float]]:
    by_time: dict[int, dict[str, float]] = {}
    for quantity in quantities:
        for row in chain.points(quantity):
            by_time.setdefault(row["time"], {})[quantity] = row["value"]
            assert row["field_id"] == FIELD
    return by_time


def test_values_the_emulators_produced_arrive_in_influxdb_and_the_api(chain: Chain) -> None:
    wait_for(lambda: len(chain.points("soil_moisture")) >= 5, what="soil readings in InfluxDB")
    wait_for(lambda: len(chain.points("rain")) >= 3, what="weather readings in InfluxDB")

    soil_quantities = [q for q in UNITS if q.startswith("soil_")]
    soil_history = chain.site.soil_history(device_id=1)
    stored_soil = _rows_by_time(chain, soil_quantities)
    assert len(stored_soil) >= 5
    for time_ms, values in stored_soil.items():
        assert set(values) == set(soil_quantities)
        assert matching_frame(soil_history, values, time_ms), (
            f"stored soil values {values} at {time_ms} were never served by the probe"
        )

    weather_quantities = [q for q in UNITS if not q.startswith("soil_") and q != "rain"]
    weather_history = chain.site.weather_history()
    stored_weather = _rows_by_time(chain, weather_quantities)
    for time_ms, values in stored_weather.items():
        assert matching_frame(weather_history, values, time_ms), (
            f"stored weather values {values} at {time_ms} were never sent by the station"
        )

    response = chain.api.get(f"/api/v1/fields/{FIELD}/latest")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["field_id"] == FIELD
    assert body["crop"] == "padi"
    latest = {r["quantity"]: r for r in body["readings"]}
    assert set(latest) == set(UNITS)
    for quantity, reading in latest.items():
        assert reading["unit"] == UNITS[quantity]
        stored = [p for p in chain.points(quantity) if p["time"] <= _ms(reading["time"])]
        newest = max(stored, key=lambda p: p["time"])
        # The API's answer is a point InfluxDB holds, with its own time, not "now".
        assert reading["value"] == pytest.approx(newest["value"])
        assert _ms(reading["time"]) == newest["time"]
        assert abs(_ms(reading["time"]) / 1000 - time.time()) < 60

    # The last-value store the API read holds, within a second of InfluxDB, the newest
    # reading of every series of the field (ingest keeps it right after each write).
    store = LastValues(default_url(chain.registry_url))
    try:
        newest_stored = {
            (p["device_id"], quantity): p["time"]
            for quantity in UNITS
            for p in sorted(chain.points(quantity), key=lambda p: p["time"])
        }

        def caught_up() -> bool:
            kept = {(v.device_id, v.quantity): v.time_ms for v in store.of_field(FIELD)}
            return all(kept.get(key, -1) >= t for key, t in newest_stored.items())

        wait_for(caught_up, timeout=1.0, what="the last-value store as new as InfluxDB")
    finally:
        store.close()

    # The gateway's health report (sent as it starts) arrived too, with a line per device.
    gateway_health = chain.influx.query(
        'SELECT "outbox_depth" FROM "gateway_health" WHERE "gateway_id" = $gw',
        {"gw": chain.gateway_id},
    )
    assert gateway_health and gateway_health[0].rows()
    device_health = chain.influx.query(
        'SELECT "online" FROM "device_health" WHERE "gateway_id" = $gw GROUP BY "device_id"',
        {"gw": chain.gateway_id},
    )
    assert {s.tags["device_id"] for s in device_health} == {"soil-1", "weather-1"}

    health = chain.api.get("/healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"


def _ms(iso: str) -> int:
    return round(datetime.fromisoformat(iso).timestamp() * 1000)


def test_unknown_field_is_404_and_bad_field_id_is_422(chain: Chain) -> None:
    assert chain.api.get("/api/v1/fields/no-such-field/latest").status_code == 404
    assert chain.api.get("/api/v1/fields/DROP%20SERIES/latest").status_code == 422


def _errors(chain: Chain, device: str) -> dict[str, int]:
    return chain.gateway.stats().device_errors.get(device, {})


def _publish_as(chain: Chain, payload: bytes) -> None:
    """Publish raw bytes with the gateway's own credentials, as a buggy firmware would."""
    creds = chain.stack.mqtt_credentials(chain.gateway_id)
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"{chain.gateway_id}-raw", protocol=mqtt.MQTTv5
    )
    client.username_pw_set(creds.username, creds.password)
    client.connect(chain.stack.mqtt_host, chain.stack.mqtt_port)
    client.loop_start()
    try:
        client.publish(readings_topic(chain.gateway_id), payload, qos=1).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def test_bad_input_is_refused_counted_and_logged_and_good_readings_still_arrive(
    chain: Chain, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    wait_for(lambda: chain.points("soil_moisture") and chain.points("air_temperature"))

    # A Modbus reply with a bad CRC.
    chain.site.inject("soil", "bad_crc", count=1)
    wait_for(lambda: _errors(chain, "soil-1").get("bad_crc"), what="a counted bad CRC")
    soil_after = len(chain.points("soil_moisture"))
    wait_for(lambda: len(chain.points("soil_moisture")) >= soil_after + 2, what="soil after CRC")

    # A garbled weather line.
    chain.site.inject("weather", "garble", count=1)
    wait_for(lambda: _errors(chain, "weather-1").get("garbled_line"), what="a garbled line")
    air_after = len(chain.points("air_temperature"))
    wait_for(lambda: len(chain.points("air_temperature")) >= air_after + 2, what="weather after")

    # A malformed MQTT payload, then a batch with one bad row between two good ones.
    _publish_as(chain, b"{not json")
    good = ["soil-1", "soil_moisture", 12.25, "%", time.time_ns() // 1_000_000, "g", 10**9]
    bad = ["soil-1", "soil_moisture", 12.5, "furlongs", good[4] + 1, "g", 10**9 + 1]
    later = [*good[:4], good[4] + 2, "g", 10**9 + 2]
    _publish_as(
        chain, json.dumps({"v": 1, "gw": chain.gateway_id, "r": [good, bad, later]}).encode()
    )
    wait_for(
        lambda: chain.ingest.stats().rejected_by_reason.get("malformed_payload") == 1,
        what="the malformed payload counted",
    )
    wait_for(lambda: chain.ingest.stats().readings_rejected == 1, what="the bad row counted")
    stored = wait_for(
        lambda: [p for p in chain.points("soil_moisture") if p["seq"] >= 10**9],
        what="the good rows next to the bad one",
    )
    assert sorted(p["seq"] for p in stored) == [10**9, 10**9 + 2]
    # The emulated devices kept flowing through all of it.
    soil_now = len(chain.points("soil_moisture"))
    wait_for(lambda: len(chain.points("soil_moisture")) > soil_now, what="soil readings after")

    reasons = {getattr(r, "reason", None) for r in caplog.records}
    assert {"bad_crc", "garbled_line", "malformed_payload", "invalid_readings"} <= reasons
