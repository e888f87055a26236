"""CSV exports fetched with a signed-in browser's own session cookie (no bearer token).

The history and summary numbers are checked against the readings in
tests/integration/test_history_api.py; here: a person gets their own CSV with its header and
rows from the real readings, and a 404 for another village's.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

import pytest
from playwright.sync_api import APIResponse, Page

from tests.browser.site import BrowserSite

pytestmark = pytest.mark.browser

SignIn = Callable[[str], Page]
HISTORY_HEADER = ["time", "quantity", "unit", "mean", "min", "max", "count", "sum"]


def _rows(response: APIResponse) -> list[list[str]]:
    assert response.status == 200, f"{response.url}: {response.status} {response.text()[:200]}"
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    return list(csv.reader(io.StringIO(response.text())))


def test_farmer_downloads_the_history_of_their_field(sign_in: SignIn, site: BrowserSite):
    page = sign_in("budi")
    rows = _rows(
        page.request.get(site.url("/api/v1/fields/sawah-budi/history.csv?quantity=soil_moisture"))
    )
    assert rows[0] == HISTORY_HEADER
    body = rows[1:]
    assert len(body) >= 12, rows  # a day of readings every 30 minutes, at most DEFAULT_POINTS
    assert {row[1] for row in body} == {"soil_moisture"}
    # The soil went dry three hours before the last reading.
    assert float(body[-1][3]) < 18.0 < float(body[0][3])


def test_farmer_gets_not_found_for_another_farmers_history(sign_in: SignIn, site: BrowserSite):
    page = sign_in("budi")
    for field_id in ("sawah-siti", "ladang-desa"):
        url = site.url(f"/api/v1/fields/{field_id}/history.csv?quantity=soil_moisture")
        assert page.request.get(url).status == 404


def test_village_office_downloads_its_village_summary(sign_in: SignIn, site: BrowserSite):
    page = sign_in("desa-bumi")
    rows = _rows(page.request.get(site.url("/api/v1/villages/bumi-agung/summary.csv?period=month")))
    header = rows[0]
    assert header[:4] == ["field_id", "name", "crop", "rainfall_mm"]
    assert {"dry_days", "completeness", "uptime", "alerts_raised"} <= set(header)
    by_field = {row[0]: dict(zip(header, row, strict=True)) for row in rows[1:]}
    assert set(by_field) == {"sawah-budi", "ladang-desa", "kebun-desa"}
    assert by_field["sawah-budi"]["name"] == "Sawah Pak Budi"
    assert int(by_field["sawah-budi"]["alerts_raised"]) >= 1
    response = page.request.get(site.url("/api/v1/villages/gunung-labuhan/summary.csv"))
    assert response.status == 404
