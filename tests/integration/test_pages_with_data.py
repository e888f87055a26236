"""The farmer's field page and the village summary page, end to end on the stack's influxd.

Eight local days of readings (every 15 minutes, up to now) are written as ingest writes them
and rolled up by the rollup job; the pages are then read through the web session cookie, and
the summary's figures are checked against the JSON API's summary of the same week.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from alerts.default_rules import install_defaults
from api.app import create_app
from api.auth import SESSION_COOKIE
from api.config import ApiConfig, InfluxSettings
from registry.access import issue_token
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
from registry.store import DevicePlacement, Registry
from storage.rollups import Rollup, StorageLayout
from storage.schema import reading_line
from storage.writers import InfluxWriter
from tani.stack import Stack
from telemetry.quantities import QUANTITIES
from telemetry.reading import Quality, Reading

pytestmark = pytest.mark.integration

MINUTE_MS = 60_000
DAY_MS = 24 * 60 * MINUTE_MS
WIB = timezone(timedelta(hours=7))
PAGE_LIMIT = 100_000
_run = itertools.count()

# (gateway, device, field, quantity)
PROBES = (
    ("g1", "soil-1", "sawah-budi", "soil_moisture"),
    ("g1", "soil-1", "sawah-budi", "soil_temperature"),
    ("g1", "wx-1", "sawah-budi", "air_temperature"),
    ("g1", "wx-1", "sawah-budi", "air_humidity"),
    ("g1", "wx-1", "sawah-budi", "rain"),
    ("g1", "soil-2", "ladang-desa", "soil_moisture"),
)
FIELDS = {"sawah-budi": ("v1", "padi", "budi"), "ladang-desa": ("v1", "jagung", None)}


def _value(quantity: str, field: str, k: int) -> float:
    """Rice at 15-17 % (dry: under 22 %), maize at 30 % (good); rain 0.5 mm every 4 hours."""
    if quantity == "soil_moisture":
        return 30.0 if field == "ladang-desa" else 16.0 + (1 if k % 2 else -1)
    return {
        "soil_temperature": 26.0,
        "air_temperature": 24.0 + k % 40 / 4,
        "air_humidity": 80.0,
        "rain": 0.5 if k % 16 == 0 else 0.0,
    }[quantity]


@dataclass(frozen=True)
class Site:
    """The API on the stack's influxd with a week of readings."""

    client: TestClient
    tokens: dict[str, str]

    def page(self, user: str, url: str) -> httpx.Response:
        """GET a page as ``user``'s browser (session cookie)."""
        self.client.cookies.clear()
        self.client.cookies.set(SESSION_COOKIE, self.tokens[user])
        return self.client.get(url, follow_redirects=False)


def _seed(session: Session, now_ms: int) -> dict[str, str]:
    upsert_village(session, VillageIn(id="v1", name="Bumi Agung"))
    users = {
        name: create_user(
            session, UserIn.model_validate({"username": name, "full_name": name} | extra), None, 0
        )
        for name, extra in {
            "budi": {"role": "farmer", "village_id": "v1"},
            "desa1": {"role": "village_office", "village_id": "v1"},
        }.items()
    }
    for fid, (village, crop, owner) in FIELDS.items():
        upsert_field(
            session, FieldIn(id=fid, name=fid.title(), village_id=village, crop=crop, owner=owner)
        )
    upsert_gateway(session, GatewayIn(id="g1", name="g1", village_id="v1"))
    for g, d, f in sorted({(g, d, f) for g, d, f, _ in PROBES}):
        upsert_device(session, DeviceIn(gateway_id=g, id=d, kind="probe", field_id=f))
    install_defaults(session)
    tokens = {n: issue_token(session, u, label="test", now_ms=now_ms) for n, u in users.items()}
    session.commit()
    return tokens


@pytest.fixture(scope="module")
def site(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    now_ms = int(time.time() * 1000)
    today = datetime.fromtimestamp(now_ms / 1000, WIB).date()
    first_ms = int(
        datetime.combine(today - timedelta(days=8), datetime.min.time(), WIB).timestamp() * 1000
    )
    writer = InfluxWriter(
        stack.influx_url, f"tani_pages_{next(_run)}", layout=StorageLayout(utc_offset_h=7)
    )
    registry = Registry(f"sqlite:///{tmp_path_factory.mktemp('pages') / 'registry.sqlite3'}")
    try:
        writer.ensure_database()
        lines = [
            reading_line(
                Reading(g, d, q, _value(q, f, k), QUANTITIES[q].unit, t, Quality.GOOD, k),
                DevicePlacement(f, *FIELDS[f][:2]),
            )
            for k, t in enumerate(range(first_ms, now_ms - 5 * MINUTE_MS, 15 * MINUTE_MS))
            for g, d, f, q in PROBES
        ]
        for i in range(0, len(lines), 5000):
            writer.write_lines(lines[i : i + 5000])
        Rollup(writer, writer.layout).run_once(now_ms, since_ms=first_ms)
        with Session(registry.engine) as session:
            tokens = _seed(session, now_ms)
        config = ApiConfig(
            registry_url=str(registry.engine.url),
            influx=InfluxSettings(url=stack.influx_url, database=writer.database),
            utc_offset_h=7,
        )
        with TestClient(create_app(config)) as client:
            yield Site(client, tokens)
    finally:
        registry.close()
        writer.execute(f'DROP DATABASE "{writer.database}"')
        writer.close()


def test_farmer_sees_a_dry_rice_field_with_charts_from_real_readings(site: Site) -> None:
    page = site.page("budi", "/lahan/sawah-budi?lang=en")
    assert page.status_code == 200, page.text
    text = page.text
    assert "<strong>Dry</strong>" in text  # 15-17 % under rice's 22 %
    assert "Old data" not in text and "not answering" not in text
    assert "Soil temperature" in text and "26.0 °C" in text
    assert "Last rain:" in text
    charts = re.findall(r"<svg.*?</svg>", text, re.S)
    assert len(charts) == 4
    assert all("<polyline" in chart for chart in charts)  # a week of data in every chart
    assert "dry below 22 %" in charts[0]
    assert len(page.content) < PAGE_LIMIT
    listing = site.page("budi", "/lahan")
    assert 'class="box dry"' in listing.text
    csv = site.page("budi", "/api/v1/fields/sawah-budi/history.csv?quantity=soil_moisture")
    assert csv.status_code == 200
    assert csv.text.startswith("time,")


def test_village_office_summary_matches_the_api(site: Site) -> None:
    today = datetime.now(WIB).date()
    last_week = today - timedelta(days=7)
    page = site.page("desa1", f"/desa/v1/ringkasan?mulai={last_week.isoformat()}&lang=en")
    assert page.status_code == 200, page.text
    assert len(page.content) < PAGE_LIMIT
    site.client.cookies.clear()
    api = site.client.get(
        "/api/v1/villages/v1/summary",
        params={"period": "week", "start": last_week.isoformat()},
        headers={"Authorization": f"Bearer {site.tokens['desa1']}"},
    ).json()
    table = re.search(r'<table id="ringkasan".*?</table>', page.text, re.S)
    assert table is not None
    row_pattern = r'<a href="/lahan/([a-z-]+)">.*?</a>(.*?)</tr>'
    rows = {m.group(1): m.group(2) for m in re.finditer(row_pattern, table.group(0), re.S)}
    for field in api["fields"]:
        cells = re.findall(r"<td[^>]*>([^<]*)</td>", rows[field["field_id"]])
        moisture = field["soil_moisture"]
        assert cells[1:4] == [f"{moisture[k]:.1f}" for k in ("mean", "min", "max")]
        if field["rainfall_mm"] is not None:
            assert cells[0] == f"{field['rainfall_mm']:.1f}"
    budi = next(f for f in api["fields"] if f["field_id"] == "sawah-budi")
    assert budi["dry_days"] == budi["days_with_moisture"] > 0
    village = site.page("desa1", "/desa/v1?lang=en")
    assert village.status_code == 200
    assert '<span class="st dry">Dry</span>' in village.text
    assert '<span class="st good">Good</span>' in village.text
