"""Village pages, the officers' overview and ``/``: who sees which village, the summary's
numbers (the JSON API's), its print stylesheet and CSV link, and every word translated.

The storage functions are replaced at their boundary, as in test_farmer_pages; the
integration test reads real readings from influxd.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po
from jinja2.ext import babel_extract
from sqlalchemy import update
from sqlalchemy.orm import Session

from alerts import field_water
from alerts.default_rules import install_defaults
from api import field_rows, latest, village_numbers
from api.auth import SESSION_COOKIE
from api.routers import farmer_pages, village_pages
from registry.models import Field
from storage.influx import InfluxUnavailable
from storage.summaries import FieldSpec, FieldSummary, Stats
from tests.unit.api_support import Site, running_site
from tests.unit.test_farmer_pages import PAGE_LIMIT, FakeReadings

API = Path(__file__).resolve().parents[2] / "api"
MY_TEMPLATES = (
    "fields.html",
    "field.html",
    "village.html",
    "village_summary.html",
    "villages.html",
)


def fake_summary(
    _influx: object,
    village_id: str,
    start_ms: int,
    end_ms: int,
    fields: Sequence[FieldSpec],
    *,
    now_ms: int,
) -> list[FieldSummary]:
    return [
        FieldSummary(
            field_id=spec.field_id,
            rainfall_mm=12.5,
            soil_moisture=Stats(mean=19.26, min=11.0, max=31.0, count=96),
            soil_temperature=Stats(mean=27.5, min=24.0, max=31.5, count=96),
            dry_threshold=spec.dry_threshold,
            dry_days=2,
            days_with_moisture=7,
            hours_expected=168,
            completeness=0.75,
            uptime=0.5,
        )
        for spec in fields
    ]


def fake_water(_influx: object, village_id: str, start_ms: int, end_ms: int) -> dict:
    """Three days of sawah-budi's stored water balance: dry, the third needing water."""
    days = [
        (start_ms + n * 86_400_000, {"et0_mm": 4.0, "etc_mm": 4.8, "rain_mm": 0.0})
        for n in range(3)
    ]
    days[1][1]["irrigation_mm"] = 2.0
    days[2][1]["needs_water"] = 1.0
    return {"sawah-budi": days} if village_id == "v1" else {}


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    readings = FakeReadings()
    monkeypatch.setattr(latest, "latest_for_field", readings.latest)
    monkeypatch.setattr(farmer_pages, "field_history", readings.history)
    monkeypatch.setattr(field_rows, "recent_readings", readings.recent)
    monkeypatch.setattr(field_water, "village_days", readings.days)
    monkeypatch.setattr(village_pages, "village_summary", fake_summary)
    monkeypatch.setattr(village_numbers, "village_summary", fake_summary)
    monkeypatch.setattr(village_numbers, "village_water_days", fake_water)
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


def _links(page: httpx.Response, prefix: str) -> set[str]:
    return set(re.findall(rf'href="{prefix}([a-z0-9_-]+)"', page.text))


# -- home -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "home"),
    [("budi", "/lahan"), ("ppl", "/desa"), ("desa1", "/desa/v1"), ("admin", "/desa")],
)
def test_home_is_each_roles_own_page(site: Site, username: str, home: str) -> None:
    response = _get(site, username, "/")
    assert response.status_code == 303
    assert response.headers["location"] == home


def test_home_signed_out_is_the_sign_in_form(site: Site) -> None:
    response = _get(site, None, "/")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/masuk")


# -- officers' overview ---------------------------------------------------------------------------


def test_officer_sees_their_villages_with_alerts_and_dry_fields(site: Site) -> None:
    page = _get(site, "ppl", "/desa?lang=en")
    assert page.status_code == 200
    assert _links(page, "/desa/") == {"v1", "v3"}
    row = re.search(r'<a href="/desa/v1">Bumi Agung</a>(.*?)</tr>', page.text, re.S)
    assert row is not None
    # Two fields; three open or acknowledged alerts; both fields at 12 % are dry.
    assert re.findall(r'<td class="n"[^>]*>(?:<[^>]+>)*(\d+)', row.group(1)) == ["2", "3", "2"]
    assert 'href="/peringatan"' in page.text
    assert len(page.content) < PAGE_LIMIT


def test_overview_for_other_roles(site: Site) -> None:
    assert _links(_get(site, "admin", "/desa"), "/desa/") == {"v1", "v2", "v3"}
    office = _get(site, "desa1", "/desa")
    assert (office.status_code, office.headers["location"]) == (303, "/desa/v1")
    assert _get(site, "budi", "/desa").status_code == 404


# -- one village ----------------------------------------------------------------------------------


def test_village_office_sees_its_fields_with_state_alerts_and_completeness(site: Site) -> None:
    page = _get(site, "desa1", "/desa/v1?lang=en")
    assert page.status_code == 200
    assert _links(page, "/lahan/") == {"sawah-budi", "ladang-desa"}
    assert "rice" in page.text
    assert '<span class="st dry">Dry</span>' in page.text
    assert "75 %" in page.text  # completeness over the last week, from the summary
    assert 'href="/desa/v1/ringkasan"' in page.text
    assert len(page.content) < PAGE_LIMIT


@pytest.mark.parametrize(
    ("username", "village", "status"),
    [
        ("desa1", "v1", 200),
        ("desa1", "v2", 404),
        ("ppl", "v3", 200),
        ("ppl", "v2", 404),
        ("admin", "v2", 200),
        ("budi", "v1", 404),
        ("siti", "v2", 404),
        ("admin", "nowhere", 404),
    ],
)
def test_village_scope(site: Site, username: str, village: str, status: int) -> None:
    assert _get(site, username, f"/desa/{village}").status_code == status
    assert _get(site, username, f"/desa/{village}/ringkasan").status_code == status


# -- summary --------------------------------------------------------------------------------------


def test_weekly_summary_has_the_apis_numbers_print_css_and_csv(site: Site) -> None:
    # NOW_MS of the test site (the alerts' time) is Thursday 9 October 2025.
    page = _get(site, "desa1", "/desa/v1/ringkasan?mulai=2025-10-09&lang=en")
    assert page.status_code == 200
    text = page.text
    assert "Oct 6, 2025 \u2013 Oct 12, 2025" in text  # Monday to Sunday
    assert "@media print" in text
    assert 'href="/api/v1/villages/v1/summary.csv?period=week&amp;start=2025-10-06"' in text
    assert "19.3" in text and "12.5" in text and "2 / 7" in text
    assert "Gateways (no field)" in text
    # Raised in the week: budi_open, v1_field and the gateway's; acknowledged: v1_field.
    assert re.search(r"<th>Total</th><td colspan=\"8\"></td><th>3</th><th>1</th>", text)
    assert "mulai=2025-09-29" in text and "mulai=2025-10-13" in text
    # The crop water: 3 x 4.8 mm used, 2 mm irrigated, no rain; one field needs water now.
    assert "1 field needs water today." in text
    water = re.search(r'<table id="air-lahan".*?</table>', text, re.S)
    assert water is not None
    budi = re.search(r'<a href="/lahan/sawah-budi">.*?</tr>', water.group(0), re.S)
    assert budi is not None
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", budi.group(0))
    assert cells == ["14", "2", "12"]  # ETc, irrigation, deficit (mm)
    assert re.search(r"<td>Oct 6, 2025</td><td>12\.0</td><td>0\.0</td>", text)
    assert len(page.content) < PAGE_LIMIT


def test_monthly_summary_in_indonesian(site: Site) -> None:
    page = _get(site, "ppl", "/desa/v1/ringkasan?periode=bulan&mulai=2026-02-10")
    assert page.status_code == 200
    assert "Ringkasan bulanan" in page.text
    assert "1 Feb 2026 \u2013 28 Feb 2026" in page.text
    assert "period=month&amp;start=2026-02-01" in page.text
    assert "mulai=2026-01-01" in page.text and "mulai=2026-03-01" in page.text
    assert "19,3" in page.text  # Indonesian decimal comma


def test_a_bad_period_is_refused(site: Site) -> None:
    assert _get(site, "desa1", "/desa/v1/ringkasan?periode=tahun").status_code == 422
    assert _get(site, "desa1", "/desa/v1/ringkasan?mulai=kemarin").status_code == 422


def test_the_csv_link_opens_with_the_session_cookie(site: Site) -> None:
    csv = _get(site, "desa1", "/api/v1/villages/v1/summary.csv?period=week&start=2025-10-06")
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")


def test_database_down(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*_args: object, **_kw: object) -> None:
        raise InfluxUnavailable("connection refused")

    monkeypatch.setattr(village_numbers, "village_summary", down)
    monkeypatch.setattr(village_pages, "village_summary", down)
    monkeypatch.setattr(field_rows, "recent_readings", down)
    summary = _get(site, "desa1", "/desa/v1/ringkasan?lang=en")
    assert summary.status_code == 503
    assert "not answering" in summary.text
    village = _get(site, "desa1", "/desa/v1?lang=en")
    assert village.status_code == 503
    assert "Sawah-Budi" in village.text
    assert _get(site, "ppl", "/desa").status_code == 200


# -- words ----------------------------------------------------------------------------------------


def _msgids() -> set[str]:
    found = set()
    for name in MY_TEMPLATES:
        options = {"extensions": "jinja2.ext.i18n", "newstyle_gettext": "true"}
        for _line, message, _comments, _context in extract_from_file(
            babel_extract, API / "templates" / name, options=options
        ):
            found.add(message if isinstance(message, str) else message[0])
    keywords = {"_": None, "N_": None}
    for name in ("farmer_pages.py", "village_pages.py"):
        for _line, message, _comments, _context in extract_from_file(
            "python", API / "routers" / name, keywords=keywords
        ):
            found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_word_of_these_pages_has_an_indonesian_translation() -> None:
    translated = set()
    for path in sorted((API / "locales" / "id" / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as handle:
            catalogue = read_po(handle)
        for message in catalogue:
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            if message.id and all(strings) and not message.fuzzy:
                translated.add(message.id if isinstance(message.id, str) else message.id[0])
    msgids = _msgids()
    assert len(msgids) > 50
    assert sorted(msgids - translated) == []
