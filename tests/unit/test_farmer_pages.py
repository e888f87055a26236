"""Farmer pages: my fields and one field's conditions, scoped, in both languages, small.

InfluxDB is not running here: the storage functions the pages call are replaced at that
boundary with ones returning readings relative to now (the integration test in
tests/integration/test_pages_with_data.py reads real ones from influxd).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from agronomy.moisture import Moisture, MoistureLimits, moisture_state
from alerts import field_water
from alerts.default_rules import install_defaults
from alerts.field_limits import moisture_limits
from api import field_rows, latest
from api.auth import SESSION_COOKIE
from api.routers import farmer_pages
from registry.models import Field
from storage.history import History, HistoryPlan, HistoryPoint, Source
from storage.influx import InfluxUnavailable
from storage.queries import LatestValue, Point, RecentSeries
from tests.unit.api_support import Site, running_site

HOUR_MS = 3_600_000
PAGE_LIMIT = 100_000


class FakeReadings:
    """What the storage functions answer: a field's soil moisture and air temperature."""

    def __init__(self) -> None:
        self.moisture = 12.0
        self.age_ms = 10 * 60_000

    def latest(self, _influx: object, field_id: str, _devices: object = ()) -> list[LatestValue]:
        at = int(time.time() * 1000) - self.age_ms
        values = {
            "soil_moisture": (self.moisture, "%"),
            "soil_temperature": (27.3, "degC"),
            "soil_ph": (6.4, "pH"),
            "soil_nitrogen": (120.0, "mg/kg"),
            "air_temperature": (31.2, "degC"),
            "air_humidity": (78.0, "%"),
        }
        return [
            LatestValue(quantity, "probe-1", value, unit, at, "good")
            for quantity, (value, unit) in values.items()
        ]

    def history(
        self, _influx: object, field_id: str, quantity: str, start_ms: int, end_ms: int, **kw: int
    ) -> History:
        step = max(60_000, (end_ms - start_ms) // kw.get("points", 500))
        points = [
            HistoryPoint(
                t,
                self.moisture + (t // step) % 5,
                self.moisture,
                self.moisture + 5,
                3,
                0.4 if quantity == "rain" and (t // step) % 50 == 0 else 0.0,
            )
            for t in range(start_ms - start_ms % step, end_ms, step)
        ]
        plan = HistoryPlan(Source.RAW, step, 0)
        return History(field_id, quantity, "%", start_ms, end_ms, plan, points)

    def days(self, _influx: object, *args: object, **kw: object) -> dict[object, object]:
        """No daily rollups: the water balance runs on its fallbacks."""
        return {}

    def recent(self, _influx: object, **kw: object) -> list[RecentSeries]:
        at = int(time.time() * 1000) - self.age_ms
        return [
            RecentSeries(
                "g1",
                "probe-1",
                "soil_moisture",
                field,
                village,
                None,
                [Point(at, self.moisture, "good")],
            )
            for field, village in (
                ("sawah-budi", "v1"),
                ("sawah-siti", "v2"),
                ("ladang-desa", "v1"),
            )
        ]


@pytest.fixture
def readings() -> FakeReadings:
    return FakeReadings()


@pytest.fixture
def site(tmp_path: Path, readings: FakeReadings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    monkeypatch.setattr(latest, "latest_for_field", readings.latest)
    monkeypatch.setattr(farmer_pages, "field_history", readings.history)
    monkeypatch.setattr(field_rows, "recent_readings", readings.recent)
    monkeypatch.setattr(field_water, "village_days", readings.days)
    with running_site(tmp_path) as site:
        with Session(site.registry.engine) as session:
            install_defaults(session)
            session.execute(update(Field).where(Field.id == "sawah-budi").values(crop="padi"))
            session.commit()
        yield site


def _get(site: Site, username: str | None, path: str) -> httpx.Response:
    site.client.cookies.clear()
    if username:
        site.client.cookies.set(SESSION_COOKIE, site.tokens[username])
    return site.client.get(path, follow_redirects=False)


def _field_links(page: httpx.Response) -> set[str]:
    return set(re.findall(r'href="/lahan/([a-z0-9_-]+)"', page.text))


# -- moisture for the crop ------------------------------------------------------------------------


def test_limits_come_from_the_rules_of_the_fields_crop(site: Site) -> None:
    with Session(site.registry.engine) as session:
        fields = {field.id: field for field in session.scalars(select(Field))}
        fields["ladang-desa"].crop = "jagung"
        fields["kebun-v3"].crop = "tebu"  # no rules for sugar cane
        limits = moisture_limits(session, list(fields.values()))
        session.rollback()
    assert limits["sawah-budi"] == MoistureLimits(dry=22, wet=None)  # rice is flooded on purpose
    assert limits["ladang-desa"] == MoistureLimits(dry=18, wet=40)
    # No crop rule: the site's rule for every field ("kering", below 20 %: see api_support).
    assert limits["kebun-v3"] == limits["sawah-siti"] == MoistureLimits(dry=20, wet=40)


def test_moisture_states() -> None:
    limits = MoistureLimits(dry=18, wet=40)
    assert moisture_state(None, limits) is Moisture.UNKNOWN
    assert moisture_state(17.9, limits) is Moisture.DRY
    assert moisture_state(18, limits) is Moisture.GOOD
    assert moisture_state(40.1, limits) is Moisture.WET
    assert moisture_state(90, MoistureLimits(dry=22, wet=None)) is Moisture.GOOD


# -- my fields ------------------------------------------------------------------------------------


def test_signed_out_goes_to_the_sign_in_form(site: Site) -> None:
    response = _get(site, None, "/lahan")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/masuk?next=/lahan")


def test_a_farmer_sees_only_their_fields(site: Site) -> None:
    page = _get(site, "budi", "/lahan")
    assert page.status_code == 200
    assert _field_links(page) == {"sawah-budi"}
    assert 'class="box dry"' in page.text  # 12 % is dry for rice (under 22 %)
    assert page.headers["cache-control"] == "no-store"


def test_an_officer_sees_the_fields_of_their_villages(site: Site) -> None:
    assert _field_links(_get(site, "ppl", "/lahan")) == {"sawah-budi", "ladang-desa", "kebun-v3"}
    assert _field_links(_get(site, "admin", "/lahan")) >= {"sawah-siti", "kebun-v3"}


def test_a_farmer_without_fields_is_told_whom_to_ask(site: Site) -> None:
    page = _get(site, "tono", "/lahan?lang=en")
    assert not _field_links(page)
    assert "Ask the village office" in page.text


# -- one field ------------------------------------------------------------------------------------


def test_field_page_tells_dry_for_the_crop_with_charts_and_alerts(site: Site) -> None:
    page = _get(site, "budi", "/lahan/sawah-budi?lang=en")
    assert page.status_code == 200
    text = page.text
    assert "<strong>Dry</strong>" in text
    assert "dry below 22" in text
    assert text.count("<svg") == 4
    assert f'href="/peringatan/{site.alerts["budi_open"]}"' in text
    assert "/api/v1/fields/sawah-budi/history.csv" in text
    assert "Soil temperature" in text and "27.3" in text
    assert "Last rain" in text
    assert "Old data" not in text
    assert len(page.content) < PAGE_LIMIT


def test_field_page_is_indonesian_by_default(site: Site, readings: FakeReadings) -> None:
    readings.moisture = 30.0
    page = _get(site, "budi", "/lahan/sawah-budi")
    assert page.headers["content-language"] == "id"
    assert "<strong>Baik</strong>" in page.text


def test_old_data_is_a_clear_warning(site: Site, readings: FakeReadings) -> None:
    readings.age_ms = 3 * HOUR_MS
    page = _get(site, "budi", "/lahan/sawah-budi?lang=en")
    assert 'class="stale"' in page.text
    assert "Old data" in page.text


def test_fields_out_of_scope_are_not_found(site: Site) -> None:
    assert _get(site, "budi", "/lahan/sawah-siti").status_code == 404
    assert _get(site, "budi", "/lahan/ladang-desa").status_code == 404
    assert _get(site, "budi", "/lahan/no-such-field").status_code == 404
    assert _get(site, "ppl", "/lahan/sawah-siti").status_code == 404
    assert _get(site, "desa1", "/lahan/ladang-desa").status_code == 200
    assert _get(site, "admin", "/lahan/sawah-siti").status_code == 200


def test_the_alert_history_route_is_still_alert_pages(site: Site) -> None:
    page = _get(site, "budi", "/lahan/sawah-budi/peringatan")
    assert page.status_code == 200
    assert "<svg" not in page.text


def test_database_down_says_so(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*_args: object, **_kw: object) -> None:
        raise InfluxUnavailable("connection refused")

    monkeypatch.setattr(latest, "latest_for_field", down)
    monkeypatch.setattr(field_rows, "recent_readings", down)
    page = _get(site, "budi", "/lahan/sawah-budi?lang=en")
    assert page.status_code == 503
    assert "not answering" in page.text
    listing = _get(site, "budi", "/lahan?lang=en")
    assert listing.status_code == 200
    assert "not answering" in listing.text
