"""The "crop water stress" alert and the stored daily balances over real parts: a maize field's
probe readings through the gateway's MQTT login, Mosquitto, ingest and influxd, rolled up by the
real rollup job; the evaluator balances the field and raises the alert with the amount to give;
an irrigation record and a wet probe resolve it; the water job stores every day (water_1d)."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from agronomy.advice import Action
from alerts.field_water import fields_water
from alerts.local_time import local_moment
from alerts.water_job import WaterJob
from api.app import create_app
from api.config import ApiConfig, InfluxSettings
from registry.access import issue_token
from registry.alerting import AlertState, RuleKind
from registry.models import Field
from registry.people import User
from registry.records import FieldRecord, RecordKind
from storage.field_days import village_days
from storage.rollups import Rollup, StorageLayout
from storage.water_days import village_water_days
from tani.stack import Stack
from tests.integration.alerts_support import MINUTE_MS, AlertSite, alert_site

pytestmark = pytest.mark.integration

DAY_MS = 86_400_000
OFFSET_H = 7
LOAM_FC = 25.0


def _maize_field(site: AlertSite, now_ms: int) -> None:
    today = local_moment(now_ms, OFFSET_H).date()
    with Session(site.registry.engine) as session, session.begin():
        field = session.get(Field, "sawah-budi")
        assert field is not None
        field.crop = "jagung"
        field.planted_on = today - timedelta(days=70)  # mid-season: roots at 1.0 m
        field.soil_texture = "loam"
        field.area_m2 = 2500.0
        field.latitude = -4.5
    site.add_rule(name="tanaman-kekurangan-air", kind=RuleKind.WATER_STRESS.value)


def _roll_up(site: AlertSite, now_ms: int, since_ms: int) -> None:
    Rollup(site.influx, StorageLayout(utc_offset_h=OFFSET_H)).run_once(now_ms, since_ms=since_ms)


def _today(site: AlertSite, now_ms: int) -> Action:
    with Session(site.registry.engine) as session:
        field = session.get(Field, "sawah-budi")
        assert field is not None
        today = local_moment(now_ms, OFFSET_H).date()
        advice = fields_water(session, site.influx, [field], today, OFFSET_H)["sawah-budi"].advice
    assert advice is not None
    return advice.action


def _api_water(site: AlertSite) -> dict:
    """GET /api/v1/fields/sawah-budi/water as the field's officer."""
    config = ApiConfig(
        registry_url=site.registry_url,
        influx=InfluxSettings(url=site.stack.influx_url, database=site.database),
        utc_offset_h=OFFSET_H,
    )
    with Session(site.registry.engine) as session, session.begin():
        officer = session.scalars(select(User).where(User.username == "ppl-sari")).one()
        token = issue_token(session, officer, label="test", now_ms=int(time.time() * 1000))
    with TestClient(create_app(config)) as client:
        response = client.get(
            "/api/v1/fields/sawah-budi/water", headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 200, response.text
    return response.json()


def _hand_amount(yesterday: list[float]) -> float:
    """FAO-56 by hand: yesterday's probe mean sets the depletion (eq. 87, loam FC 0.25, maize
    roots 1.0 m); today and tomorrow the crop uses Ks Kc ET0 (no station here: the 4 mm/day
    fallback); the amount brings tomorrow back to field capacity."""
    taw = 1000 * (0.25 - 0.12) * 1.0  # eq. 82
    etc = 1.20 * 4.0  # Kc mid (Table 12) x ET0
    p = 0.55 + 0.04 * (5 - etc)  # Table 22 and its footnote

    def etc_adj(dr: float) -> float:
        return etc * min(1.0, (taw - dr) / ((1 - p) * taw))  # eq. 84

    dr = 1000 * (0.25 - sum(yesterday) / len(yesterday) / 100) * 1.0
    dr += etc_adj(dr)  # today
    return dr + etc_adj(dr)  # and tomorrow


def test_a_dry_spell_raises_water_stress_and_watering_resolves_it(
    stack: Stack, tmp_path: Path
) -> None:
    now = int(time.time() * 1000)
    midnight = now - (now + OFFSET_H * 3_600_000) % DAY_MS
    with alert_site(stack, tmp_path, channel_url="json://127.0.0.1:9/hook") as site:
        _maize_field(site, now)
        # Twelve days drying from field capacity to 13 % by volume, eight readings a day.
        start = midnight - 12 * DAY_MS
        values = [LOAM_FC - 12 * (n / 96) for n in range(96)]
        site.publish(start, values, every_min=180)
        _roll_up(site, now, start)
        assert _today(site, now) is Action.WATER_NOW
        water = _api_water(site)
        assert water["advice"]["action"] == "water_now"
        assert water["advice"]["amount_mm"] == pytest.approx(_hand_amount(values[-8:]), rel=0.02)
        assert water["advice"]["litres"] == pytest.approx(water["advice"]["amount_mm"] * 2500)
        assert water["advice"]["confidence"] == "probe"  # set by yesterday's probe readings
        assert [d["source"] for d in water["days"][-2:]] == ["probe", "model"]

        site.evaluator(now).run_once()
        (alert,) = site.alerts()
        assert alert.kind == RuleKind.WATER_STRESS.value and alert.field_id == "sawah-budi"
        assert alert.state == AlertState.OPEN.value
        assert alert.value == pytest.approx(_hand_amount(values[-8:]), rel=0.02)
        assert len(site.deliveries("opened")) == 1  # the officer is told

        # The farmer gives that water today and records it; the probe reads wet again.
        with Session(site.registry.engine) as session, session.begin():
            session.add(
                FieldRecord(
                    field_id="sawah-budi",
                    kind=RecordKind.IRRIGATION.value,
                    day=local_moment(now, OFFSET_H).date(),
                    amount=alert.value,
                    entered_ms=now,
                )
            )
        site.publish(max(midnight, now - 30 * MINUTE_MS), [24.5, 24.4, 24.3], every_min=5)
        _roll_up(site, now, midnight)
        assert _today(site, now) is Action.NOT_NEEDED
        assert _api_water(site)["advice"]["action"] == "not_needed"

        site.evaluator(now + MINUTE_MS).run_once()
        assert site.alerts()[0].state == AlertState.RESOLVED.value


def test_the_water_job_stores_each_day_for_dashboards_and_summaries(
    stack: Stack, tmp_path: Path
) -> None:
    now = int(time.time() * 1000)
    midnight = now - (now + OFFSET_H * 3_600_000) % DAY_MS
    with alert_site(stack, tmp_path) as site:
        _maize_field(site, now)
        start = midnight - 12 * DAY_MS
        site.publish(start, [LOAM_FC - 12 * (n / 96) for n in range(96)], every_min=180)
        _roll_up(site, now, start)
        job = WaterJob(site.registry, site.influx, OFFSET_H, clock=lambda: now)
        assert job.run_once() == 71  # planted 70 days ago: the season so far, today included
        days = village_water_days(site.influx, "bumi-agung", start, now + DAY_MS)["sawah-budi"]
        assert [t for t, _ in days] == [start + n * DAY_MS for n in range(13)]
        depletion = [values["depletion_mm"] for _, values in days]
        assert depletion == sorted(depletion)  # drying every day of the spell
        assert days[-1][1]["needs_water"] == 1 and "needs_water" not in days[0][1]
        assert all(values["et0_mm"] > 0 and values["raw_mm"] > 0 for _, values in days)
        # Later runs rewrite the last two weeks only.
        assert job.run_once() == 15
        # One field's page reads that field's probes (and the village's weather) only.
        window = (site.influx, "bumi-agung", start, now + DAY_MS)
        own = village_days(*window, only_fields=["sawah-budi"])
        other = village_days(*window, only_fields=["sawah-lain"])
        assert any(k.quantity == "soil_moisture" for k in own)
        assert not any(k.quantity == "soil_moisture" for k in other)
