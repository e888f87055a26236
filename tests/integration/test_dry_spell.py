"""A maize field through a dry spell, end to end: the emulated weather station and 7-in-1 probe
on ptys, the real gateway reading them with pyserial, Mosquitto, ingest and influxd, the rollup
job; then the field's page and its JSON advise watering, of the amount FAO-56 gives by hand, and
"not needed" once the farmer records the water.

Eight days pass in a minute: the emulators' field model runs 10,800 times faster than the
wall clock from the start of the test on, and so does the gateway's clock (its own
``SystemClock`` on a scaled machine clock, believed as NTP-synchronised), set eight days back,
so the readings carry the eight days before now (the same hours of the day as the model's). No
rain falls: the model dries the soil as the days go by, and the probe's calibration in this
loam (it reads 3 points wet) takes the maize past its readily available water.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.app import create_app
from api.auth import SESSION_COOKIE
from api.config import ApiConfig, InfluxSettings
from firmware_sim.site import SimulatedSite, SiteConfig
from gateway.clock import SystemClock
from gateway.config import (
    GatewayConfig,
    ModbusBusSettings,
    MqttSettings,
    ProbeSettings,
    PublishSettings,
    WeatherStationSettings,
)
from gateway.service import Gateway
from ingest.config import AckSettings, BatchSettings, IngestConfig
from ingest.config import InfluxSettings as IngestInflux
from ingest.config import MqttSettings as IngestMqtt
from ingest.service import Ingest
from registry.access import issue_token
from registry.models import Field
from registry.people import Role, User
from registry.records import FieldRecord, ProbeCalibration, RecordKind
from registry.store import DeviceEntry, FieldEntry, GatewayEntry, Registry, SiteFile, VillageEntry
from storage.influx import InfluxDB
from storage.queries import count_readings_since
from storage.rollups import Rollup, StorageLayout
from tani.stack import Stack
from tests.integration.support import wait_for

pytestmark = pytest.mark.integration

GATEWAY_ID = "gw-kemarau"
FIELD_ID = "ladang-kemarau"
OFFSET_H = 7
SCALE = 10_800.0  # a day in eight seconds
DAYS = 8
LATITUDE = -4.45  # where the emulated field's sun is (firmware_sim.model)
ELEVATION_M = 0.0
AREA_M2 = 2_500.0
PROBE_OFFSET = -3.0  # true soil moisture = the probe's reading - 3 points
DAY_MS = 86_400_000


@dataclass
class Run:
    """The field after its dry spell, and how to look at it."""

    registry: Registry
    api: TestClient
    influx: InfluxDB
    today: date


def _scaled_clock(origin_s: float) -> SystemClock:
    """The gateway's clock on a machine whose wall clock runs SCALE times faster from
    ``origin_s`` on, as the emulators' field model does, and DAYS behind it."""

    def wall_ns() -> int:
        field_s = origin_s + (time.time() - origin_s) * SCALE
        return int((field_s - DAYS * 86_400) * 1e9)

    return SystemClock(0, False, wall_ns=wall_ns, ntp_synchronised=lambda: True)


def _registry(path: Path, planted: date) -> Registry:
    registry = Registry(f"sqlite:///{path}")
    registry.apply(
        SiteFile(
            villages=[VillageEntry(id="kemarau", name="Kemarau")],
            fields=[
                FieldEntry(id=FIELD_ID, name="Ladang Kemarau", village="kemarau", crop="jagung")
            ],
            gateways=[
                GatewayEntry(
                    id=GATEWAY_ID,
                    name="Gateway Kemarau",
                    devices=[
                        DeviceEntry(id="soil-1", kind="modbus_soil", field=FIELD_ID),
                        DeviceEntry(id="weather-1", kind="ascii_weather", field=FIELD_ID),
                    ],
                )
            ],
        )
    )
    with Session(registry.engine) as session, session.begin():
        field = session.get(Field, FIELD_ID)
        assert field is not None
        field.planted_on, field.soil_texture, field.area_m2 = planted, "loam", AREA_M2
        field.latitude, field.elevation_m = LATITUDE, ELEVATION_M
        session.add(
            User(username="pak-tani", full_name="Pak Tani", role=Role.ADMIN.value, created_ms=0)
        )
        # A two-point calibration in this loam found the probe reading 3 points wet (it was
        # set at the factory to air and water, not to this soil).
        session.add(
            ProbeCalibration(
                gateway_id=GATEWAY_ID,
                device_id="soil-1",
                quantity="soil_moisture",
                scale=1.0,
                offset=PROBE_OFFSET,
                set_ms=0,
            )
        )
    return registry


@pytest.fixture(scope="module")
def dry_spell(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("dry-spell")
    start_s = time.time()
    run_s = DAYS * DAY_MS / 1000 / SCALE  # the gateway's clock reaches the start time then
    today = time.gmtime(start_s + OFFSET_H * 3600)
    today_date = date(today.tm_year, today.tm_mon, today.tm_mday)
    registry = _registry(tmp / "registry.sqlite3", today_date - timedelta(days=70))
    database = "dry_spell"
    service = stack.add_mqtt_user("ingest-kemarau", "service")
    ingest = Ingest(
        IngestConfig(
            acks=AckSettings(delay_s=0.2),
            mqtt=IngestMqtt(
                host=stack.mqtt_host,
                port=stack.mqtt_port,
                username=service.username,
                password=service.password,
                client_id="ingest-kemarau",
            ),
            influx=IngestInflux(url=stack.influx_url, database=database),
            batch=BatchSettings(max_delay_s=0.1),
            registry_url=str(registry.engine.url),
            deadletters_path=tmp / "deadletters.sqlite3",
            quarantine_path=tmp / "quarantine.sqlite3",
        )
    )
    ingest.start()
    assert ingest.wait_subscribed(15), "ingest never subscribed"
    site = SimulatedSite(
        SiteConfig(
            seed=11,
            time_scale=SCALE,
            origin_unix_s=start_s,
            weather_interval_s=0.25,  # a line every 45 field minutes
            rain_events_per_day=0.0,
        )
    )
    site.start()
    creds = stack.add_mqtt_user(GATEWAY_ID, "gateway")
    config = GatewayConfig(
        gateway_id=GATEWAY_ID,
        state_dir=tmp / "gateway",
        mqtt=MqttSettings(
            host=stack.mqtt_host,
            port=stack.mqtt_port,
            username=creds.username,
            password=creds.password,
        ),
        # Acks would carry the server's real time, which this gateway's fast clock strays from.
        publish=PublishSettings(interval_s=0.3, batch_size=200, confirm="broker"),
        modbus=[
            ModbusBusSettings(
                port=site.ports["soil"],
                interval_s=0.25,  # a reading every 45 field minutes
                probes=[ProbeSettings(device_id="soil-1", unit=1)],
            )
        ],
        weather=[
            WeatherStationSettings(device_id="weather-1", port=site.ports["weather"], baudrate=4800)
        ],
    )
    gateway = Gateway(config, clock=_scaled_clock(start_s))
    influx = InfluxDB(stack.influx_url, database)
    try:
        gateway.start()
        # Until the gateway's clock reaches the start; readings after it would be ahead of now.
        time.sleep(max(0.0, start_s + run_s - time.time() - 0.2))
        gateway.stop()
        site.stop()
        # The stopped gateway handed the broker everything; ingest stores it.
        stored = _stored_settles(influx)
        assert stored > 2_000, f"only {stored} readings arrived"
        now_ms = int(time.time() * 1000)
        Rollup(influx, StorageLayout(utc_offset_h=OFFSET_H)).run_once(
            now_ms, since_ms=now_ms - (DAYS + 1) * DAY_MS
        )
        api_config = ApiConfig(
            registry_url=str(registry.engine.url),
            influx=InfluxSettings(url=stack.influx_url, database=database),
            utc_offset_h=OFFSET_H,
        )
        with TestClient(create_app(api_config)) as api:
            yield Run(registry, api, influx, today_date)
    finally:
        gateway.stop()
        site.stop()
        ingest.stop()
        influx.close()
        registry.close()


def _stored_settles(influx: InfluxDB) -> int:
    """The number of the gateway's readings in InfluxDB once it stops growing."""
    seen = [-1]

    def settled() -> bool:
        time.sleep(1.0)  # ingest writes every 0.1 s: a second without growth is the end
        count = count_readings_since(influx, GATEWAY_ID, 0)
        done = count == seen[0]
        seen[0] = count
        return done

    wait_for(settled, timeout=30, what="ingest to store every reading")
    return seen[0]


def _daily(run: Run, quantity: str) -> list[dict]:
    query = (
        'SELECT "mean", "min", "max", "hours" FROM "rollup"."reading_1d" WHERE "field_id" = '
        f"'{FIELD_ID}' AND \"quantity\" = '{quantity}' ORDER BY time"
    )
    return [row for series in run.influx.query(query) for row in series.rows()]


def _hand_et0(day: date, temp: dict, rh: dict, wind: dict, solar: dict) -> float:
    """FAO-56 eq. 6 for one day, written out from the book (not agronomy.et0)."""
    tmax, tmin = temp["max"], temp["min"]
    e0 = lambda t: 0.6108 * math.exp(17.27 * t / (t + 237.3))  # noqa: E731  eq. 11
    es = (e0(tmax) + e0(tmin)) / 2  # eq. 12
    ea = (e0(tmin) * min(rh["max"], 100) / 100 + e0(tmax) * rh["min"] / 100) / 2  # eq. 17
    tmean = (tmax + tmin) / 2
    delta = 4098 * e0(tmean) / (tmean + 237.3) ** 2  # eq. 13
    gamma = 0.665e-3 * 101.3 * ((293 - 0.0065 * ELEVATION_M) / 293) ** 5.26  # eq. 7-8
    j = day.timetuple().tm_yday
    phi = math.radians(LATITUDE)
    dr = 1 + 0.033 * math.cos(2 * math.pi * j / 365)  # eq. 23
    dec = 0.409 * math.sin(2 * math.pi * j / 365 - 1.39)  # eq. 24
    ws = math.acos(-math.tan(phi) * math.tan(dec))  # eq. 25
    ra = (
        24
        * 60
        / math.pi
        * 0.0820
        * dr
        * (  # eq. 21
            ws * math.sin(phi) * math.sin(dec) + math.cos(phi) * math.cos(dec) * math.sin(ws)
        )
    )
    rs = solar["mean"] * 0.0864  # mean W/m2 over the day -> MJ/m2/day
    rso = (0.75 + 2e-5 * ELEVATION_M) * ra  # eq. 37
    rnl = (  # eq. 39
        4.903e-9
        * ((tmax + 273.16) ** 4 + (tmin + 273.16) ** 4)
        / 2
        * (0.34 - 0.14 * math.sqrt(ea))
        * (1.35 * min(rs / rso, 1.0) - 0.35)
    )
    rn = 0.77 * rs - rnl  # eq. 38, 40
    u2 = max(wind["mean"], 0.5)
    return (0.408 * delta * rn + gamma * 900 / (tmean + 273) * u2 * (es - ea)) / (
        delta + gamma * (1 + 0.34 * u2)
    )


def _hand_amount(run: Run) -> float:
    """Net irrigation by hand (FAO-56 ch. 8): today's depletion from today's calibrated probe
    mean (eq. 87, loam FC 0.25, maize roots at their 1.0 m), plus tomorrow's crop water use
    (Kc mid 1.20 x the mean ET0 of the last week, Ks of eq. 84) the water must also cover."""
    days = {
        q: _daily(run, q)
        for q in ("air_temperature", "air_humidity", "wind_speed", "solar_radiation")
    }
    full = [i for i, row in enumerate(days["air_temperature"]) if row["hours"] >= 20 and i < DAYS]
    first = run.today - timedelta(days=DAYS)
    et0 = [_hand_et0(first + timedelta(days=i), *(days[q][i] for q in days)) for i in full[-7:]]
    etc = 1.20 * sum(et0) / len(et0)
    taw = 1000 * (0.25 - 0.12) * 1.0  # eq. 82
    p = min(max(0.55 + 0.04 * (5 - etc), 0.1), 0.8)  # Table 22 and its footnote
    theta = (_daily(run, "soil_moisture")[-1]["mean"] + PROBE_OFFSET) / 100  # calibrated
    dr = min(max(1000 * (0.25 - theta) * 1.0, 0.0), taw)  # eq. 87
    ks = 1.0 if dr <= p * taw else (taw - dr) / ((1 - p) * taw)
    return dr + ks * etc


def _water(run: Run) -> dict:
    with Session(run.registry.engine) as session, session.begin():
        user = session.query(User).filter_by(username="pak-tani").one()
        token = issue_token(session, user, label="test", now_ms=int(time.time() * 1000))
    response = run.api.get(
        f"/api/v1/fields/{FIELD_ID}/water", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    return {"json": response.json(), "token": token}


def test_the_readings_of_eight_days_came_through_the_gateway(dry_spell: Run) -> None:
    moisture = _daily(dry_spell, "soil_moisture")
    assert len(moisture) >= DAYS  # a daily mean for every field day, today's partial one too
    assert moisture[-1]["mean"] < moisture[0]["mean"] - 2  # drying, without rain
    assert all(row["hours"] >= 20 for row in _daily(dry_spell, "air_temperature")[1:-1])


def test_the_page_advises_the_fao56_amount_then_not_needed_after_watering(
    dry_spell: Run,
) -> None:
    water = _water(dry_spell)
    advice = water["json"]["advice"]
    assert advice["action"] == "water_now", water["json"]
    assert advice["confidence"] == "probe" and advice["missing_weather_days"] <= 1
    expected = _hand_amount(dry_spell)
    assert advice["amount_mm"] == pytest.approx(expected, rel=0.10)
    assert advice["litres"] == pytest.approx(advice["amount_mm"] * AREA_M2)
    # The farmer's page says it in words, first.
    dry_spell.api.cookies.set(SESSION_COOKIE, water["token"])
    page = dry_spell.api.get(f"/lahan/{FIELD_ID}")
    assert page.status_code == 200
    assert f"Siram sekarang: {round(advice['amount_mm'])} mm" in page.text

    # The farmer gives that water today and records it.
    with Session(dry_spell.registry.engine) as session, session.begin():
        session.add(
            FieldRecord(
                field_id=FIELD_ID,
                kind=RecordKind.IRRIGATION.value,
                day=dry_spell.today,
                amount=advice["amount_mm"],
                entered_ms=int(time.time() * 1000),
            )
        )
    after = _water(dry_spell)["json"]["advice"]
    assert after["action"] == "not_needed" and after["depletion_mm"] < 10
    page = dry_spell.api.get(f"/lahan/{FIELD_ID}")
    assert "Tidak perlu disiram" in page.text
