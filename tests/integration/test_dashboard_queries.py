"""Every query of every dashboard runs on a real influxd filled by the real pipeline, and answers.

Emulated soil probe and weather station -> gateway (health report every second) -> Mosquitto ->
ingest -> influxd of the ``stack``; then the rollup job, as ingest runs it, so the panels that
read ``rollup.reading_1h``/``reading_1d`` have rows; and one reading flagged bad, written as
ingest writes it, for the panel that counts them (a healthy emulated site sends none).

Grafana cannot run here, so the test does what Grafana does before InfluxDB sees a query:
template variables interpolated as its InfluxDB data source does (a single-value variable as
it is; a multi-value or All one regex-escaped, several values as ``(a|b)``), then ``$timeFilter``
and ``$__interval`` as its InfluxQL backend renders them, for the dashboard's time range (or the
panel's own ``timeFrom``) and an interval from the range, the panel's data points and its
minimum interval.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from dashboards.catalog import all_dashboard_json
from registry.store import (
    DevicePlacement,
)
from storage.influx import InfluxDB
from storage.rollups import Rollup, StorageLayout
from storage.schema import reading_line
from tani.stack import Stack
from telemetry.quantities import QUANTITIES
from telemetry.reading import Quality, Reading
from tests.integration.pipeline import Place, running_pipeline
from tests.integration.support import wait_for

pytestmark = pytest.mark.integration

VILLAGE = "desa-dasbor"
FIELD = "sawah-dasbor"
GATEWAY = "gw-dasbor"
DATABASE = "tani_dashboards"
# A panel about 800 px wide: the data points Grafana asks for.
MAX_DATA_POINTS = 800
_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
# A variable or macro left in a query ($name, ${name}); a regex's closing $/ is no variable.
_UNRESOLVED = re.compile(r"\$(\{|\w)")
# Grafana's rangeutil.roundInterval: (below this many ms, use this interval).
_ROUNDED = (
    (15, 10),
    (35, 20),
    (75, 50),
    (150, 100),
    (350, 200),
    (750, 500),
    (1_500, 1_000),
    (3_500, 2_000),
    (7_500, 5_000),
    (12_500, 10_000),
    (17_500, 15_000),
    (25_000, 20_000),
    (45_000, 30_000),
    (90_000, 60_000),
    (210_000, 120_000),
    (450_000, 300_000),
    (750_000, 600_000),
    (1_050_000, 900_000),
    (1_500_000, 1_200_000),
    (2_700_000, 1_800_000),
    (5_400_000, 3_600_000),
    (9_000_000, 7_200_000),
    (16_200_000, 10_800_000),
    (32_400_000, 21_600_000),
    (86_400_000, 43_200_000),
    (604_800_000, 86_400_000),
    (1_814_400_000, 604_800_000),
    (3_628_800_000, 2_592_000_000),
)


@dataclass
class Site:
    """The database the pipeline filled."""

    influx: InfluxDB


def _health_points(influx: InfluxDB, measurement: str) -> list[dict[str, Any]]:
    series = influx.query(
        f'SELECT * FROM "{measurement}" WHERE "gateway_id" = $gw', {"gw": GATEWAY}
    )
    return [row for s in series for row in s.rows()]


@pytest.fixture(scope="module")
def site(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    place = Place(VILLAGE, FIELD, GATEWAY, DATABASE)
    tmp_path = tmp_path_factory.mktemp("dashboards")
    # Health every second, so the gateway panels have several reports; the test runs the
    # rollup job itself, once the readings are in.
    influx = InfluxDB(stack.influx_url, DATABASE)
    try:
        with running_pipeline(
            stack, tmp_path, place, seed=7, health_interval_s=1.0, rollup_every_s=0
        ):
            wait_for(
                lambda: {q for q in QUANTITIES if _count(influx, q) >= 3} == set(QUANTITIES),
                what="readings of every quantity",
            )
            wait_for(
                lambda: (
                    len(_health_points(influx, "gateway_health")) >= 3
                    and {r["device_id"] for r in _health_points(influx, "device_health")}
                    == {"soil-1", "weather-1"}
                ),
                what="health reports naming both devices",
            )
            now_ms = time.time_ns() // 1_000_000
            bad = Reading(
                GATEWAY, "soil-1", "soil_moisture", 150.0, "%", now_ms - 1000, Quality.BAD, 0
            )
            influx.write_lines([reading_line(bad, DevicePlacement(FIELD, VILLAGE, "padi"))])
            Rollup(influx, StorageLayout(utc_offset_h=7)).run_once(now_ms + 1000)
            yield Site(influx)
    finally:
        influx.execute(f'DROP DATABASE "{DATABASE}"')
        influx.close()


def _count(influx: InfluxDB, quantity: str) -> int:
    series = influx.query(
        'SELECT count("value") FROM "reading" WHERE "quantity" = $q AND "field_id" = $f',
        {"q": quantity, "f": FIELD},
    )
    return sum(row["count"] for s in series for row in s.rows())


def _ms(duration: str) -> int:
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d|w)", duration)
    assert match, f"not a Grafana duration: {duration!r}"
    return int(match.group(1)) * _UNITS_MS[match.group(2)]


def _range(dashboard: dict[str, Any], panel: dict[str, Any], now_ms: int) -> tuple[int, int]:
    """The panel's time range: its own ``timeFrom`` (e.g. 30d) or the dashboard's now-24h."""
    if panel.get("timeFrom"):
        return now_ms - _ms(panel["timeFrom"]), now_ms
    start = dashboard["time"]["from"]
    assert dashboard["time"]["to"] == "now" and start.startswith("now-"), dashboard["time"]
    return now_ms - _ms(start.removeprefix("now-")), now_ms


def _interval_text(ms: int) -> str:
    """Grafana's secondsToHms-style text: the largest unit that divides the interval."""
    for unit in ("d", "h", "m", "s"):
        if ms % _UNITS_MS[unit] == 0:
            return f"{ms // _UNITS_MS[unit]}{unit}"
    return f"{ms}ms"


def _interval(panel: dict[str, Any], start_ms: int, end_ms: int) -> str:
    """$__interval: the range over the data points, rounded, at least the panel's minimum."""
    raw = (end_ms - start_ms) / MAX_DATA_POINTS
    rounded = next((value for below, value in _ROUNDED if raw < below), 31_536_000_000)
    if panel.get("interval"):
        rounded = max(rounded, _ms(panel["interval"]))
    return _interval_text(rounded)


def _escape_regex(value: str) -> str:
    """Grafana's escapeRegex (kbn.regexEscape)."""
    return re.sub(r"([\\^$*+?.()|\[\]{}/])", r"\\\1", value)


def _format(variable: dict[str, Any], values: list[str]) -> str:
    """A variable's value as Grafana's InfluxDB data source puts it in a query: a multi-value
    variable's value (and All's) is a list, even of one."""
    if not variable.get("multi") and not variable.get("includeAll"):
        (value,) = values
        return value
    if not variable.get("multi"):
        (value,) = values
        return _escape_regex(value)
    return "(" + "|".join(_escape_regex(v) for v in values) + ")"


def _interpolate(query: str, chosen: dict[str, str]) -> str:
    # Longest names first, so $field never eats the start of a longer name.
    for name in sorted(chosen, key=len, reverse=True):
        query = query.replace(f"${{{name}}}", chosen[name]).replace(f"${name}", chosen[name])
    return query


def _macros(query: str, panel: dict[str, Any], start_ms: int, end_ms: int) -> str:
    interval = _interval(panel, start_ms, end_ms)
    query = query.replace("$timeFilter", f"time >= {start_ms}ms and time <= {end_ms}ms")
    query = query.replace("$__interval_ms", str(_ms(interval)))
    return query.replace("$__interval", interval)


def _choose(site: Site, dashboard: dict[str, Any]) -> dict[str, str]:
    """Run each variable's query in order, pick the test site's value (All for multi-value
    variables), and check the query offered exactly what the site has."""
    expected = {"village": [VILLAGE], "field": [FIELD], "gateway": [GATEWAY]}
    chosen: dict[str, str] = {}
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = _interpolate(variable["query"], chosen)
        assert not _UNRESOLVED.search(query), f"unresolved variable in {query}"
        series = site.influx.query(query)
        offered = sorted(row["value"] for s in series for row in s.rows())
        assert offered == expected[variable["name"]], (variable["name"], query)
        chosen[variable["name"]] = _format(variable, offered)
    return chosen


def _has_values(series: list[Any]) -> bool:
    return any(
        value is not None
        for s in series
        for row in s.rows()
        for column, value in row.items()
        if column != "time"
    )


@pytest.mark.parametrize("uid", ["tani-field", "tani-village", "tani-gateway"])
def test_every_panel_query_runs_and_answers_for_the_chosen_variables(site: Site, uid: str) -> None:
    (dashboard,) = [d for d in all_dashboard_json() if d["uid"] == uid]
    chosen = _choose(site, dashboard)
    now_ms = time.time_ns() // 1_000_000
    ran = 0
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            start_ms, end_ms = _range(dashboard, panel, now_ms)
            query = _macros(_interpolate(target["query"], chosen), panel, start_ms, end_ms)
            assert not _UNRESOLVED.search(query), f"{panel['title']}: unresolved {query}"
            series = site.influx.query(query)
            assert _has_values(series), f"{panel['title']}: no data from {query}"
            ran += 1
    assert ran, "no panel has a query"


def test_the_regex_form_of_a_variable_matches_only_its_values(site: Site) -> None:
    """The multi-value form (escaped, in parentheses) selects the chosen fields and no other
    whose name merely starts the same."""
    query = 'SHOW TAG VALUES FROM "reading" WITH KEY = "field_id" WHERE "field_id" =~ /^$field$/'
    variable = {"multi": True, "includeAll": True}
    for values, found in (([FIELD], [FIELD]), ([FIELD, "sawah"], [FIELD]), (["sawah"], [])):
        series = site.influx.query(_interpolate(query, {"field": _format(variable, values)}))
        assert sorted(row["value"] for s in series for row in s.rows()) == found
