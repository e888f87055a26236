"""Every query of every dashboard runs on a real influxd filled by the real pipeline, and answers.

Emulated soil probe and weather station -> gateway (health report every second) -> Mosquitto ->
ingest -> influxd of the ``stack``; then the rollup job, as ingest runs it, so the panels that
read ``rollup.reading_1h``/``reading_1d`` have rows; one reading flagged bad, written as
ingest writes it, for the panel that counts them (a healthy emulated site sends none); and ten
days of water balance (``rollup.water_1d``) for the crop water panels, written as the alerts
service's water job writes them, whose panels must answer exactly the values written.

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
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from dashboards.catalog import all_dashboard_json
from dashboards.common import UTC_OFFSET_H
from registry.store import (
    DevicePlacement,
)
from storage.influx import InfluxDB
from storage.rollups import Rollup, StorageLayout
from storage.schema import reading_line
from storage.water_days import WaterDay, write_water_days
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
# Water balance only (no readings): fields of the same village, and one of another village.
DRYLAND = "ladang-dasbor"
ORCHARD = "kebun-dasbor"
# Balanced until yesterday (say, taken out of the registry): it needed water then.
STALE = "kebun-lama"
ELSEWHERE = ("desa-lain", "sawah-lain")
WATER_DAYS = 10
_LOCAL = timezone(timedelta(hours=UTC_OFFSET_H))
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
    """The database the pipeline filled, and the water balance days written into it."""

    influx: InfluxDB
    water: list[WaterDay]


def _local_midnight_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=_LOCAL).timestamp() * 1000)


def _water_days(now_ms: int) -> list[WaterDay]:
    """Ten local days up to today, as the water job writes them: ``needs_water`` on today's
    point (and on the day before for one field, as yesterday's run left it); one field's days
    end yesterday.

    The dashboard's field carries the root-zone terms and a paddy water level both, so that
    every panel of the one-field dashboard has data; a real field has one or the other.
    """
    today = datetime.fromtimestamp(now_ms / 1000, _LOCAL).date()
    days: list[WaterDay] = []
    for back in range(WATER_DAYS - 1, -1, -1):
        day_ms = _local_midnight_ms(today - timedelta(days=back))
        et0 = 3.0 + 0.25 * back
        ours = {
            "et0_mm": et0,
            "etc_mm": 1.2 * et0,
            "etc_adj_mm": 0.9 * et0,
            "rain_mm": [0.0, 2.5, 12.0][back % 3],
            "effective_rain_mm": [0.0, 0.0, 9.0][back % 3],
            "irrigation_mm": 20.0 if back % 4 == 1 else 0.0,
            "depletion_mm": 5.0 + 3.0 * back,
            "raw_mm": 27.5,
            "taw_mm": 55.0 + 0.5 * back,
            "water_level_mm": 40.0 - 25.0 * back,
            "moisture_pct": 31.0,
        }
        dryland = {"et0_mm": 5.0, "rain_mm": 1.0, "depletion_mm": 20.0, "raw_mm": 30.0}
        orchard = {"et0_mm": 7.0, "rain_mm": 4.0}
        if back == 0:
            ours["needs_water"] = 1
            dryland["needs_water"] = 0
            orchard["needs_water"] = 1
        if back == 1:
            dryland["needs_water"] = 1
        days += [
            WaterDay(FIELD, VILLAGE, "padi", day_ms, ours),
            WaterDay(DRYLAND, VILLAGE, "jagung", day_ms, dryland),
            WaterDay(ORCHARD, VILLAGE, "kopi", day_ms, orchard),
            WaterDay(
                ELSEWHERE[1], ELSEWHERE[0], "padi", day_ms, {"et0_mm": 99.0, "needs_water": 1}
            ),
        ]
        if back >= 1:
            stale = {"et0_mm": 6.0} | ({"needs_water": 1} if back == 1 else {})
            days.append(WaterDay(STALE, VILLAGE, "kopi", day_ms, stale))
    return days


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
            Rollup(influx, StorageLayout(utc_offset_h=UTC_OFFSET_H)).run_once(now_ms + 1000)
            water = _water_days(now_ms)
            write_water_days(influx, water)
            yield Site(influx, water)
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


def _panel(uid: str, title: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The dashboard and its one panel whose title starts with ``title``."""
    (dashboard,) = [d for d in all_dashboard_json() if d["uid"] == uid]
    (panel,) = [p for p in dashboard["panels"] if p["title"].startswith(title)]
    return dashboard, panel


def _answer(site: Site, uid: str, title: str, chosen: dict[str, str]) -> list[Any]:
    """The series a panel's one query answers, with the variables ``chosen``."""
    dashboard, panel = _panel(uid, title)
    (target,) = panel["targets"]
    start_ms, end_ms = _range(dashboard, panel, time.time_ns() // 1_000_000)
    query = _macros(_interpolate(target["query"], chosen), panel, start_ms, end_ms)
    assert not _UNRESOLVED.search(query), query
    return site.influx.query(query)


def _fields(*values: str) -> str:
    """The village dashboard's multi-value ``$field`` with these fields chosen."""
    return _format({"multi": True, "includeAll": True}, list(values))


@pytest.mark.parametrize(
    ("title", "columns"),
    [
        ("Evapotranspirasi", {"ET0": "et0_mm", "ETc": "etc_mm", "ETc adj": "etc_adj_mm"}),
        ("Hujan dan irigasi", {"Hujan": "rain_mm", "Irigasi": "irrigation_mm"}),
        ("Kekurangan air", {"Dr": "depletion_mm", "RAW": "raw_mm", "TAW": "taw_mm"}),
        ("Muka air", {"Muka air": "water_level_mm"}),
    ],
)
def test_a_fields_crop_water_panels_answer_its_days_as_written(
    site: Site, title: str, columns: dict[str, str]
) -> None:
    """One row per local day at local midnight, the values the water job wrote, and nothing of
    the village's other fields."""
    (series,) = _answer(site, "tani-field", title, {"village": VILLAGE, "field": FIELD})
    written = {day.day_ms: day.values for day in site.water if day.field_id == FIELD}
    assert len(written) == WATER_DAYS
    assert {row["time"]: row for row in series.rows()} == {
        day_ms: {"time": day_ms} | {name: values[key] for name, key in columns.items()}
        for day_ms, values in written.items()
    }


def test_fields_needing_water_today_count_only_todays_point_of_the_chosen_fields(
    site: Site,
) -> None:
    def count(*fields: str) -> int:
        (series,) = _answer(
            site,
            "tani-village",
            "Lahan perlu air hari ini",
            {"village": VILLAGE, "field": _fields(*fields)},
        )
        (row,) = series.rows()
        return int(row["Lahan"])

    # The dryland field needed water yesterday, not today; the stale field's latest point is
    # yesterday's; the other village's field is left out by the village even when chosen.
    assert count(FIELD) == 1
    assert count(DRYLAND) == 0
    assert count(FIELD, DRYLAND) == 1
    assert count(FIELD, DRYLAND, ORCHARD, STALE, ELSEWHERE[1]) == 2


def test_water_balance_today_has_a_row_per_chosen_field_with_todays_values(site: Site) -> None:
    title = "Neraca air hari ini"
    chosen = {"village": VILLAGE, "field": _fields(FIELD, DRYLAND, STALE, ELSEWHERE[1])}
    series = _answer(site, "tani-village", title, chosen)
    shown = re.findall(r'last\("(\w+)"\)', _panel("tani-village", title)[1]["targets"][0]["query"])
    today = max(day.day_ms for day in site.water)
    expected = {
        day.field_id: {key: value for key, value in day.values.items() if key in shown}
        for day in site.water
        if day.day_ms == today and day.village_id == VILLAGE and day.field_id != ORCHARD
    }
    rows = {s.tags["field_id"]: s.rows() for s in series}
    assert set(rows) == set(expected) == {FIELD, DRYLAND}
    for field_id, values in expected.items():
        (row,) = rows[field_id]
        assert {k: v for k, v in row.items() if k != "time" and v is not None} == values


def test_weekly_et0_and_rain_sum_the_daily_mean_over_fields_in_local_weeks_from_monday(
    site: Site,
) -> None:
    chosen = (FIELD, DRYLAND)
    by_day: dict[int, list[WaterDay]] = {}
    for day in site.water:
        if day.village_id == VILLAGE and day.field_id in chosen:
            by_day.setdefault(day.day_ms, []).append(day)
    expected: dict[int, list[float]] = {}
    for day_ms, days in by_day.items():
        local = datetime.fromtimestamp(day_ms / 1000, _LOCAL).date()
        week = expected.setdefault(_local_midnight_ms(local - timedelta(local.weekday())), [0, 0])
        for index, key in enumerate(("et0_mm", "rain_mm")):
            week[index] += sum(d.values[key] for d in days) / len(days)
    (series,) = _answer(
        site,
        "tani-village",
        "ET0 dan hujan per minggu",
        {"village": VILLAGE, "field": _fields(*chosen)},
    )
    weeks = {row["time"]: [row["ET0"], row["Hujan"]] for row in series.rows()}
    assert weeks.keys() == expected.keys()
    for week_ms, (et0, rain) in weeks.items():
        start = datetime.fromtimestamp(week_ms / 1000, _LOCAL)
        assert (start.weekday(), start.hour, start.minute) == (0, 0, 0), start
        assert (et0, rain) == (
            pytest.approx(expected[week_ms][0]),
            pytest.approx(expected[week_ms][1]),
        )
    # Ten days touch two or three weeks.
    assert 2 <= len(weeks) <= 3
