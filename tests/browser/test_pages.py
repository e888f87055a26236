"""The web pages in headless Chromium on a 360 px phone screen, signed in as each kind of user.

The site (tests/browser/site.py) is fed by real Mosquitto, ingest and influxd; its alerts were
raised by the real evaluator on readings that went dry. Each test signs in through the /masuk
form in a fresh browser profile.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.checks import assert_fits_the_phone
from tests.browser.site import FIELDS, BrowserSite

pytestmark = pytest.mark.browser

SignIn = Callable[[str], Page]
Shot = Callable[[str], Path]


def _field_name(field_id: str) -> str:
    return FIELDS[field_id][0]


def test_signed_out_pages_lead_to_the_sign_in_form(page: Page, site: BrowserSite, shot: Shot):
    page.goto(site.url("/peringatan"))
    assert page.url.startswith(site.url("/masuk?next=")), page.url
    expect(page.locator("h1")).to_have_text("Masuk")
    assert_fits_the_phone(page)
    shot("masuk")


def test_a_wrong_password_is_refused_on_the_form(page: Page, site: BrowserSite):
    page.goto(site.url("/masuk"))
    page.fill("#username", "budi")
    page.fill("#password", "bukan-sandinya")
    page.click("form[action='/masuk'] button[type=submit]")
    expect(page.get_by_role("alert")).to_contain_text("Nama pengguna atau kata sandi salah")
    assert "/masuk" in page.url


def test_farmer_sees_only_the_alert_of_their_own_field(
    sign_in: SignIn, site: BrowserSite, shot: Shot
):
    page = sign_in("budi")
    assert page.url == site.url("/peringatan")
    expect(page.locator("header")).to_contain_text("Budi Santoso")
    body = page.locator("body")
    expect(body).to_contain_text(_field_name("sawah-budi"))
    expect(body).not_to_contain_text(_field_name("ladang-desa"))
    expect(body).not_to_contain_text(_field_name("sawah-siti"))
    expect(body).not_to_contain_text("Gunung Labuhan")
    links = page.locator("a[href^='/peringatan/']")
    expect(links).to_have_count(1)
    assert links.get_attribute("href") == f"/peringatan/{site.alerts['sawah-budi']}"
    assert_fits_the_phone(page)
    shot("peringatan-petani")


@pytest.mark.parametrize("hidden", ["sawah-siti", "ladang-desa"])
def test_farmer_gets_not_found_for_alerts_that_are_not_theirs(
    sign_in: SignIn, site: BrowserSite, hidden: str
):
    page = sign_in("budi")
    response = page.goto(site.url(f"/peringatan/{site.alerts[hidden]}"))
    assert response is not None and response.status == 404
    expect(page.locator("h1")).to_have_text("Peringatan tidak ditemukan")
    expect(page.locator("body")).not_to_contain_text(_field_name(hidden))


def test_farmer_acknowledges_their_alert_with_the_button(
    sign_in: SignIn, site: BrowserSite, shot: Shot
):
    page = sign_in("budi")
    alert_id = site.alerts["sawah-budi"]
    page.click(f"a[href='/peringatan/{alert_id}']")
    assert page.url == site.url(f"/peringatan/{alert_id}")
    expect(page.locator("h1")).to_have_text("Peringatan")
    # A farmer may say "I am on it" but not close the alert.
    expect(page.locator("form[action$='/selesai']")).to_have_count(0)
    assert_fits_the_phone(page)
    shot("peringatan-detail")
    page.fill("#ack-note", "Pompa air dinyalakan")
    with page.expect_navigation():
        page.click(f"form[action='/peringatan/{alert_id}/tangani'] button")
    assert page.url == site.url(f"/peringatan/{alert_id}")
    expect(page.locator("dl")).to_contain_text("Ditangani oleh Budi Santoso")
    expect(page.locator("form[action$='/tangani']")).to_have_count(0)
    expect(page.locator("ol")).to_contain_text("Pompa air dinyalakan")
    # And the list says so too.
    page.goto(site.url("/peringatan"))
    expect(page.locator(".box", has_text=_field_name("sawah-budi"))).to_contain_text(
        "Ditangani oleh Budi Santoso"
    )


def test_officer_sees_the_alerts_of_their_village_only(
    sign_in: SignIn, site: BrowserSite, shot: Shot
):
    page = sign_in("ppl-sari")
    body = page.locator("body")
    expect(page.locator("header")).to_contain_text("penyuluh")
    expect(page.locator("h2")).to_have_text(["Bumi Agung"])
    expect(body).to_contain_text(_field_name("sawah-budi"))
    expect(body).to_contain_text(_field_name("ladang-desa"))
    expect(body).not_to_contain_text(_field_name("sawah-siti"))
    for field_id in ("sawah-budi", "ladang-desa"):
        expect(page.locator(f"a[href='/peringatan/{site.alerts[field_id]}']")).to_have_count(1)
    assert_fits_the_phone(page)
    shot("peringatan-penyuluh")
    response = page.goto(site.url(f"/peringatan/{site.alerts['sawah-siti']}"))
    assert response is not None and response.status == 404


def test_officer_acknowledges_then_resolves_an_alert(sign_in: SignIn, site: BrowserSite):
    page = sign_in("ppl-sari")
    alert_id = site.alerts["kebun-desa"]
    page.goto(site.url(f"/peringatan/{alert_id}"))
    with page.expect_navigation():
        page.click(f"form[action='/peringatan/{alert_id}/tangani'] button")
    expect(page.locator("dl")).to_contain_text("Ditangani oleh Sari Wulandari")
    page.fill("#resolve-note", "Sudah diairi")
    with page.expect_navigation():
        page.click(f"form[action='/peringatan/{alert_id}/selesai'] button")
    expect(page.locator("dl")).to_contain_text("Selesai")
    page.goto(site.url("/peringatan?status=selesai"))
    expect(page.locator("body")).to_contain_text(_field_name("kebun-desa"))


def test_village_office_sees_its_village_and_not_the_other(
    sign_in: SignIn, site: BrowserSite, shot: Shot
):
    page = sign_in("desa-bumi")
    body = page.locator("body")
    expect(page.locator("header")).to_contain_text("kantor desa")
    expect(body).to_contain_text(_field_name("sawah-budi"))
    expect(body).not_to_contain_text(_field_name("sawah-siti"))
    expect(body).not_to_contain_text("Gunung Labuhan")
    assert_fits_the_phone(page)
    shot("peringatan-kantor-desa")
    response = page.goto(site.url(f"/peringatan/{site.alerts['sawah-siti']}"))
    assert response is not None and response.status == 404
    response = page.goto(site.url("/lahan/sawah-siti/peringatan"))
    assert response is not None and response.status == 404


def test_field_alert_history_of_the_farmers_own_field(
    sign_in: SignIn, site: BrowserSite, shot: Shot
):
    page = sign_in("budi")
    page.goto(site.url("/lahan/sawah-budi/peringatan"))
    expect(page.locator("body")).to_contain_text(_field_name("sawah-budi"))
    expect(page.locator(f"a[href='/peringatan/{site.alerts['sawah-budi']}']")).to_have_count(1)
    assert_fits_the_phone(page)
    shot("lahan-riwayat-peringatan")
    response = page.goto(site.url("/lahan/sawah-siti/peringatan"))
    assert response is not None and response.status == 404


def test_signing_out_ends_the_session(sign_in: SignIn, site: BrowserSite):
    page = sign_in("siti")
    expect(page.locator("body")).to_contain_text(_field_name("sawah-siti"))
    with page.expect_navigation():
        page.click("form[action='/keluar'] button")
    assert page.url.startswith(site.url("/masuk"))
    page.goto(site.url("/peringatan"))
    assert page.url.startswith(site.url("/masuk?next="))
