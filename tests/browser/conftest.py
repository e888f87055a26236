"""Browser fixtures: one headless Debian Chromium and one served site for all browser tests.

Playwright drives ``/usr/bin/chromium`` (Debian's package): it never downloads a browser, so
``playwright install`` is not needed and would not work offline. A missing Chromium fails the
tests (as a missing Mosquitto or influxd does), it never skips them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tani.stack import Stack
from tests.browser.checks import PHONE
from tests.browser.site import PASSWORD, BrowserSite, browser_site
from tests.integration.support import wait_for

CHROMIUM = Path(os.environ.get("TANI_CHROMIUM", "/usr/bin/chromium"))
# The committed screenshots; refreshed by a run with TANI_SCREENSHOTS=1 (see ``shot``).
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# The field page (advice, soil, conditions, two charts) is the longest at 360 px: ~160 kB.
_MAX_SCREENSHOT_BYTES = 200_000
# Root in containers needs --no-sandbox; a small /dev/shm needs --disable-dev-shm-usage.
_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


def require_chromium() -> None:
    """Fail (never skip) when Debian's Chromium is missing."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"{CHROMIUM} not found: the browser tests drive Debian's Chromium through "
            "Playwright. Run `make test` (it installs the Debian packages) or: "
            "sudo apt-get install chromium",
            pytrace=False,
        )


@pytest.fixture(scope="package")
def playwright_session() -> Iterator[Playwright]:
    """Playwright's driver, for the browser tests only (package scope: the unit tests after
    them count threads, so nothing of the browser is left running when they start)."""
    require_chromium()
    before = set(threading.enumerate())
    with sync_playwright() as playwright:
        yield playwright
    # The driver's child watcher thread ends a moment after the driver process.
    wait_for(
        lambda: not [t for t in threading.enumerate() if t not in before and t.is_alive()],
        timeout=10,
        what="Playwright's threads to end",
    )


@pytest.fixture(scope="package")
def browser(playwright_session: Playwright) -> Iterator[Browser]:
    """The one headless Chromium of the browser tests."""
    launched = playwright_session.chromium.launch(executable_path=str(CHROMIUM), args=_ARGS)
    try:
        yield launched
    finally:
        launched.close()


@pytest.fixture(scope="package")
def site(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserSite]:
    """The site of the browser tests: registry, readings through MQTT and ingest, alerts, API
    server (on the session's Mosquitto and influxd)."""
    require_chromium()  # before spending seconds on the site
    with browser_site(stack, tmp_path_factory.mktemp("browser-site")) as running:
        yield running


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies) with a phone-sized screen, per test."""
    fresh = browser.new_context(viewport=PHONE, locale="id-ID", timezone_id="Asia/Jakarta")
    fresh.set_default_timeout(10_000)
    try:
        yield fresh
    finally:
        fresh.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def sign_in(page: Page, site: BrowserSite) -> Callable[..., Page]:
    """Sign ``username`` in through the /masuk form; returns the page, on ``to`` (the alerts
    list unless told: the form's ``next``)."""

    def _sign_in(username: str, to: str = "/peringatan") -> Page:
        page.goto(site.url(f"/masuk?next={quote(to, safe='/')}"))
        page.fill("#username", username)
        page.fill("#password", PASSWORD)
        with page.expect_navigation():
            page.click("form[action='/masuk'] button[type=submit]")
        assert page.url == site.url(to), f"{username} is on {page.url}, not {to}"
        return page

    return _sign_in


@pytest.fixture(scope="package")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """docs/screenshots with TANI_SCREENSHOTS=1, else a temporary folder.

    Every run takes the screenshots (a page that cannot be drawn fails), but only an asked-for
    run rewrites the committed ones: their times change every run, and an ordinary `make test`
    should leave the working tree as it found it.
    """
    if os.environ.get("TANI_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture
def shot(page: Page, screenshot_dir: Path) -> Callable[[str], Path]:
    """Save the whole page, phone width, as <name>.png (see ``screenshot_dir``)."""

    def _shot(name: str) -> Path:
        path = screenshot_dir / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        size = path.stat().st_size
        assert size <= _MAX_SCREENSHOT_BYTES, f"{path.name} is {size} bytes"
        return path

    return _shot
