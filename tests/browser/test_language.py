"""Bahasa Indonesia by default, English through the switch link, and the choice sticks."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.browser.site import FIELDS, BrowserSite

pytestmark = pytest.mark.browser

SignIn = Callable[..., Page]


def test_sign_in_form_in_english_on_request(page: Page, site: BrowserSite):
    page.goto(site.url("/masuk?lang=en"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Sign in")
    expect(page.locator("label[for=password]")).to_have_text("Password")
    page.fill("#username", "budi")
    page.fill("#password", "not-the-password")
    page.click("form[action='/masuk'] button[type=submit]")
    expect(page.get_by_role("alert")).to_contain_text("Wrong username or password.")


def test_officer_switches_to_english_and_acknowledges_in_english(
    sign_in: SignIn, site: BrowserSite, shot: Callable[[str], object]
):
    page = sign_in("ppl-sari")
    expect(page.locator("html")).to_have_attribute("lang", "id")
    expect(page.locator("h1")).to_have_text("Peringatan aktif")
    switch = page.locator("p.lang a")
    expect(switch).to_have_text("English")
    with page.expect_navigation():
        switch.click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Open alerts")
    expect(page.locator("header")).to_contain_text("Sign out")
    expect(page.locator("body")).not_to_contain_text("Peringatan aktif")

    # The choice is remembered (a cookie) on the next page, and on an action's answer.
    alert_id = site.alerts["ladang-desa"]
    page.goto(site.url(f"/peringatan/{alert_id}"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Alert")
    expect(page.locator("body")).to_contain_text(FIELDS["ladang-desa"][0])
    with page.expect_navigation():
        page.click(f"form[action='/peringatan/{alert_id}/tangani'] button")
    expect(page.locator("dl")).to_contain_text("Acknowledged by Sari Wulandari")
    shot("alert-acknowledged-en")

    # And back to Indonesian.
    with page.expect_navigation():
        page.locator("p.lang a").click()
    expect(page.locator("html")).to_have_attribute("lang", "id")
    expect(page.locator("dl")).to_contain_text("Ditangani oleh Sari Wulandari")
