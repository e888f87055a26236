"""Water advice, farmer records and the village's water numbers in Chromium on a 360 px phone.

The village's maize plot (``ladang-desa``) was planted two months ago on loam; its week of probe
and station readings went through the real Mosquitto, ingest and influxd, and the water job
stored its daily balances, as the alerts service does every 10 minutes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.checks import assert_fits_the_phone
from tests.browser.site import BrowserSite

pytestmark = pytest.mark.browser

SignIn = Callable[..., Page]
Shot = Callable[[str], Path]


def test_the_field_page_gives_water_advice_first_with_numbers(sign_in: SignIn, shot: Shot):
    page = sign_in("ppl-sari", to="/lahan/ladang-desa")
    advice = page.locator("#saran-air")
    expect(advice).to_be_visible()
    expect(advice.locator("h2")).to_have_text("Air")
    # An action in words, with mm or days, and what it rests on.
    expect(advice).to_contain_text(re.compile(r"Siram|Tidak perlu disiram"))
    expect(advice).to_contain_text(re.compile(r"\d+ (mm|hari)"))
    expect(advice).to_contain_text("sensor tanah")  # the field's probe reported this week
    # Advice comes before the numbers.
    order = page.evaluate(
        "() => [...document.querySelectorAll('#saran-air, #kondisi')].map((e) => e.id)"
    )
    assert order == ["saran-air", "kondisi"]
    # Soil chemistry read against maize: pH 6.3 (the probe) suits it, so no lime is advised.
    expect(page.locator("body")).to_contain_text("Cocok untuk tanaman ini")
    assert_fits_the_phone(page)
    shot("lahan-saran-air")


def test_an_officer_records_irrigation_for_the_farmer_on_the_phone_form(
    sign_in: SignIn, site: BrowserSite, shot: Shot
):
    page = sign_in("ppl-sari", to="/lahan/ladang-desa")
    with page.expect_navigation():
        page.click("a[href='/lahan/ladang-desa/catatan']")
    assert_fits_the_phone(page)
    assert page.locator("script").count() == 0
    page.select_option("#kind", "irrigation")
    page.fill("#amount", "5000")
    page.select_option("select[name=unit]", "liter")
    page.fill("#note", "disiram pompa sore")
    with page.expect_navigation():
        page.click("form[action='/lahan/ladang-desa/catatan'] button[type=submit]")
    assert page.url.startswith(site.url("/lahan/ladang-desa/catatan"))
    # 5,000 litres over its 2,500 m2 is 2 mm, entered by the officer on the farmer's behalf.
    record = page.locator(".rec").first
    expect(record).to_contain_text("2 mm")
    expect(record).to_contain_text("disiram pompa sore")
    expect(record).to_contain_text("Sari Wulandari")
    assert_fits_the_phone(page)
    shot("lahan-catatan")


def test_the_village_summary_shows_the_crop_water_in_real_numbers(
    sign_in: SignIn, site: BrowserSite, shot: Shot
):
    page = sign_in("desa-bumi", to="/desa/bumi-agung/ringkasan")
    weeks = page.locator("#minggu-air tbody tr")
    assert weeks.count() >= 1
    # ET0 from the station's temperature and humidity (FAO-56 missing-data procedures): a
    # tropical week's reference evapotranspiration is millimetres, not nothing.
    et0 = float(weeks.last.locator("td").nth(1).inner_text().replace(",", "."))
    assert 1.0 < et0 < 60.0
    maize = page.locator("#air-lahan tbody tr").filter(
        has=page.locator("a[href='/lahan/ladang-desa']")
    )
    expect(maize.locator("td").nth(1)).to_have_text(re.compile(r"^\d+$"))  # ETc, mm
    assert_fits_the_phone(page)
    shot("desa-ringkasan-air")
