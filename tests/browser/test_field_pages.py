"""A farmer's pages: my fields, one field's conditions, charts and its CSV download."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, Response, expect

from tests.browser.checks import assert_fits_the_phone
from tests.browser.site import FIELDS, BrowserSite

pytestmark = pytest.mark.browser

SignIn = Callable[..., Page]
Shot = Callable[[str], Path]
PAGE_BUDGET_BYTES = 100_000  # issue 6: each page under 100 KB transferred


def test_farmer_home_lists_their_own_field_as_dry(sign_in: SignIn, site: BrowserSite, shot: Shot):
    page = sign_in("budi", to="/lahan")
    expect(page.locator("h1")).to_have_text("Lahan saya")
    boxes = page.locator(".box")
    expect(boxes).to_have_count(1)
    expect(boxes).to_contain_text(FIELDS["sawah-budi"][0])
    expect(boxes.locator(".st.dry")).to_have_text("Kering")
    for other in ("sawah-siti", "ladang-desa", "kebun-desa"):
        expect(page.locator("body")).not_to_contain_text(FIELDS[other][0])
    assert_fits_the_phone(page)
    shot("lahan-petani")


def test_farmer_field_page_shows_conditions_charts_and_alerts(
    sign_in: SignIn, site: BrowserSite, shot: Shot
):
    page = sign_in("budi", to="/lahan")
    sizes: list[int] = []

    def _count(response: Response) -> None:
        sizes.append(len(response.body()))

    page.on("response", _count)
    with page.expect_navigation():
        page.click("a[href='/lahan/sawah-budi']")
    assert page.url == site.url("/lahan/sawah-budi")
    expect(page.locator("h1")).to_have_text(FIELDS["sawah-budi"][0])
    # Dry for its crop, in words and colour, with the readings sent through MQTT an hour ago.
    expect(page.locator(".now.dry")).to_contain_text("Kering")
    expect(page.locator(".now")).to_contain_text("Kelembapan tanah 12")
    expect(page.locator(".stale")).to_have_count(0)
    # Water advice comes before the numbers; the record form is one tap away.
    expect(page.locator("#saran-air")).to_be_visible()
    expect(page.locator("a[href='/lahan/sawah-budi/catatan']")).to_have_count(1)
    table = page.locator("#kondisi")
    for label in ("Suhu tanah", "pH tanah", "Suhu udara", "Kelembapan udara"):
        expect(table).to_contain_text(label)
    expect(page.locator("body")).to_contain_text("Hujan terakhir")
    # Server-drawn charts (24 hours and 7 days), no script and nothing from elsewhere.
    expect(page.locator("svg.chart").first).to_be_visible()
    assert page.locator("svg.chart").count() >= 2
    assert page.locator("script").count() == 0
    # The open alert of this field, linked.
    alert_link = page.locator(f"a[href='/peringatan/{site.alerts['sawah-budi']}']")
    expect(alert_link).to_have_count(1)
    assert_fits_the_phone(page)
    assert sum(sizes) < PAGE_BUDGET_BYTES, f"{sum(sizes)} bytes for {len(sizes)} responses"
    shot("lahan-detail")


def test_farmer_downloads_the_field_history_from_its_page(sign_in: SignIn, site: BrowserSite):
    page = sign_in("budi", to="/lahan/sawah-budi")
    with page.expect_download() as waiting:
        page.click("a[href*='/history.csv']")
    download = waiting.value
    assert download.suggested_filename.startswith("riwayat_sawah-budi_soil_moisture_")
    assert download.suggested_filename.endswith(".csv")
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert rows[0] == ["time", "quantity", "unit", "mean", "min", "max", "count", "sum"]
    assert len(rows) > 10
    assert {row[1] for row in rows[1:]} == {"soil_moisture"}


@pytest.mark.parametrize("field_id", ["sawah-siti", "ladang-desa"])
def test_farmer_gets_not_found_for_other_fields(sign_in: SignIn, site: BrowserSite, field_id: str):
    page = sign_in("budi", to="/lahan")
    response = page.goto(site.url(f"/lahan/{field_id}"))
    assert response is not None and response.status == 404
    expect(page.locator("h1")).to_have_text("Lahan tidak ditemukan")
    expect(page.locator("body")).not_to_contain_text(FIELDS[field_id][0])


def test_farmer_field_page_in_english(sign_in: SignIn, site: BrowserSite):
    page = sign_in("siti", to="/lahan/sawah-siti?lang=en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator(".now.dry")).to_contain_text("Dry")
    expect(page.locator("#kondisi")).to_contain_text("Soil temperature")
    expect(page.locator("body")).to_contain_text("Charts")


def test_a_silent_field_warns_that_its_data_is_old(sign_in: SignIn, site: BrowserSite, shot: Shot):
    page = sign_in("siti", to="/lahan")
    expect(page.locator(".box")).to_have_count(2)
    with page.expect_navigation():
        page.click("a[href='/lahan/kebun-siti']")
    expect(page.locator("h1")).to_have_text(FIELDS["kebun-siti"][0])
    expect(page.locator(".stale")).to_contain_text("Data lama")
    expect(page.locator(".stale")).to_contain_text("Periksa sensor dan gateway")
    assert_fits_the_phone(page)
    shot("lahan-data-lama")
    page.goto(site.url("/lahan/sawah-siti"))
    expect(page.locator(".stale")).to_have_count(0)
