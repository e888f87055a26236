"""ET0 in the JSON API: FAO-56's worked examples through HTTP, and bad input refused (422)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.api_support import Site, running_site


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with running_site(tmp_path) as running:
        yield running


# FAO-56 Example 18 (Brussels, 6 July): 10 km/h measured at 10 m, which the book gives as
# u2 = 2.078 m/s.
EXAMPLE_18 = {
    "day_of_year": 187,
    "lat": 50.8,
    "elevation": 100,
    "tmax": 21.5,
    "tmin": 12.3,
    "rh_max": 84,
    "rh_min": 63,
    "wind": 10 / 3.6,
    "wind_height": 10,
    "sunshine": 9.25,
}
# FAO-56 Example 19 (N'Diaye, Senegal, 1 October, 14-15 h); the book takes Lz = 15 deg west.
EXAMPLE_19 = {
    "day_of_year": 274,
    "hour": 14,
    "lat": 16.2,
    "lon": -16.25,
    "utc_offset": -1,
    "elevation": 8,
    "temp": 38,
    "rh": 52,
    "wind": 3.3,
    "rs": 2.45,
}


def test_daily_et0_reproduces_fao56_example_18(site: Site) -> None:
    response = site.client.get(
        "/api/v1/agronomy/et0/daily", params=EXAMPLE_18, headers=site.auth("budi")
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["et0_mm"] == pytest.approx(3.88, abs=0.05)
    assert body["terms"]["Ra"] == pytest.approx(41.09, abs=0.01)
    assert body["terms"]["radiation_method"] == "sunshine_eq35"
    assert body["terms"]["u2"] == pytest.approx(2.078, abs=0.001)


def test_hourly_et0_reproduces_fao56_example_19(site: Site) -> None:
    response = site.client.get(
        "/api/v1/agronomy/et0/hourly", params=EXAMPLE_19, headers=site.auth("ppl")
    )
    assert response.status_code == 200, response.text
    assert response.json()["et0_mm"] == pytest.approx(0.63, abs=0.02)


def test_impossible_input_is_refused_with_a_reason(site: Site) -> None:
    response = site.client.get(
        "/api/v1/agronomy/et0/daily",
        params={**EXAMPLE_18, "tmin": 30},
        headers=site.auth("budi"),
    )
    assert response.status_code == 422
    assert "invalid ET0 input" in response.json()["detail"]


def test_signed_out_is_refused(site: Site) -> None:
    assert site.client.get("/api/v1/agronomy/et0/daily", params=EXAMPLE_18).status_code == 401
