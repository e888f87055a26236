"""The village office's pages: its fields in a table, weekly and monthly summaries to print, and
the summary as a CSV download; an officer's villages."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.checks import assert_fits_the_phone
from tests.browser.site import FIELDS, BrowserSite

pytestmark = pytest.mark.browser

SignIn = Callable[..., Page]
Shot = Callable[[str], Path]
BUMI_AGUNG = [field_id for field_id, spec in FIELDS.items() if spec[1] == "bumi-agung"]
# A4 portrait less 10 mm margins each side, in CSS pixels (96 per inch).
A4_PRINTABLE_PX = round((210 - 20) / 25.4 * 96)


def test_village_office_home_is_its_village_table(sign_in: SignIn, site: BrowserSite, shot: Shot):
    page = sign_in("desa-bumi", to="/desa/bumi-agung")
    expect(page.locator("h1")).to_have_text("Bumi Agung")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(len(BUMI_AGUNG))
    for field_id in BUMI_AGUNG:
        row = rows.filter(has=page.locator(f"a[href='/lahan/{field_id}']"))
        expect(row.locator(".st.dry")).to_have_text("Kering")
    expect(page.locator("body")).not_to_contain_text(FIELDS["sawah-siti"][0])
    shot("desa")
    # Its home page ("/") is this table.
    page.goto(site.url("/"))
    assert page.url == site.url("/desa/bumi-agung")


def test_village_table_fits_the_phone(sign_in: SignIn, site: BrowserSite):
    page = sign_in("desa-bumi", to="/desa/bumi-agung")
    assert_fits_the_phone(page)


def test_village_office_cannot_open_another_village(sign_in: SignIn, site: BrowserSite):
    page = sign_in("desa-bumi", to="/desa/bumi-agung")
    for path in ("/desa/gunung-labuhan", "/desa/gunung-labuhan/ringkasan", "/lahan/sawah-siti"):
        response = page.goto(site.url(path))
        assert response is not None and response.status == 404, path
        expect(page.locator("body")).not_to_contain_text(FIELDS["sawah-siti"][0])


def test_weekly_summary_prints_on_a4(sign_in: SignIn, site: BrowserSite, shot: Shot):
    page = sign_in("desa-bumi", to="/desa/bumi-agung")
    with page.expect_navigation():
        page.click("a[href='/desa/bumi-agung/ringkasan']")
    expect(page.locator("h1")).to_have_text("Ringkasan mingguan: Bumi Agung")
    rows = page.locator("#ringkasan tbody tr")
    for field_id in BUMI_AGUNG:
        expect(rows.filter(has=page.locator(f"a[href='/lahan/{field_id}']"))).to_have_count(1)
    expect(page.locator("body")).not_to_contain_text(FIELDS["sawah-siti"][0])
    assert_fits_the_phone(page)  # one card per field below 40em, the water tables too
    shot("desa-ringkasan")

    # Printed: the links and the header go, the table fits the paper.
    page.emulate_media(media="print")
    page.set_viewport_size({"width": A4_PRINTABLE_PX, "height": 1000})
    expect(page.locator("header")).to_be_hidden()
    expect(page.locator(".noprint").first).to_be_hidden()
    expect(page.locator("#ringkasan")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= A4_PRINTABLE_PX, f"the printed summary is {width} px wide"
    pdf = page.pdf(format="A4", margin={"top": "10mm", "bottom": "10mm"})
    assert pdf.startswith(b"%PDF-") and len(pdf) > 5_000


def test_village_office_downloads_the_monthly_summary(sign_in: SignIn, site: BrowserSite):
    page = sign_in("desa-bumi", to="/desa/bumi-agung")
    with page.expect_navigation():
        page.click("a[href='/desa/bumi-agung/ringkasan?periode=bulan']")
    expect(page.locator("h1")).to_have_text("Ringkasan bulanan: Bumi Agung")
    with page.expect_download() as waiting:
        page.click("a[href*='/summary.csv']")
    download = waiting.value
    assert download.suggested_filename.startswith("ringkasan_bumi-agung_month_")
    text = Path(download.path()).read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    header = rows[0]
    assert header[:4] == ["field_id", "name", "crop", "rainfall_mm"]
    assert {"dry_days", "completeness", "uptime", "alerts_raised"} <= set(header)
    by_field = {row[0]: dict(zip(header, row, strict=True)) for row in rows[1:]}
    assert set(by_field) == set(BUMI_AGUNG)
    assert by_field["sawah-budi"]["name"] == FIELDS["sawah-budi"][0]
    assert int(by_field["sawah-budi"]["alerts_raised"]) >= 1


def test_officer_sees_only_the_villages_they_cover(sign_in: SignIn, site: BrowserSite, shot: Shot):
    page = sign_in("ppl-sari", to="/desa")
    expect(page.locator("h1")).to_have_text("Desa saya")
    expect(page.locator("a[href='/desa/bumi-agung']")).to_have_count(1)
    expect(page.locator("a[href='/desa/gunung-labuhan']")).to_have_count(0)
    expect(page.locator("body")).not_to_contain_text("Gunung Labuhan")
    assert_fits_the_phone(page)
    shot("desa-penyuluh")
    # From the village to a field of it, nobody's plot included; not the other village's.
    with page.expect_navigation():
        page.click("a[href='/desa/bumi-agung']")
    with page.expect_navigation():
        page.click("a[href='/lahan/ladang-desa']")
    expect(page.locator("h1")).to_have_text(FIELDS["ladang-desa"][0])
    expect(page.locator(".now.dry")).to_contain_text("Kering")
    for path in ("/desa/gunung-labuhan", "/lahan/sawah-siti"):
        response = page.goto(site.url(path))
        assert response is not None and response.status == 404, path
