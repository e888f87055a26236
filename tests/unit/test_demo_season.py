"""The demo's season model (pure): its weather, the soil under the crops, what the farmers did,
and that ``agronomy`` reads the result as the demo means it to (a stressed maize field)."""

from __future__ import annotations

import itertools
import statistics
from collections import defaultdict
from datetime import date

import pytest

from agronomy.crops import CROPS
from agronomy.moisture import crop_limits
from agronomy.paddy import run_paddy
from agronomy.water_balance import DayInput, run_balance
from registry.records import RecordKind
from tani.demo_season_model import Season, build_season
from tani.demo_season_weather import GAP_DAYS_AGO, Rows, SeasonSpec, daily_et0_mm, rain_by_day
from tani.demo_site import COFFEE_FIELD_ID, DEMO_FIELDS, FIELD_ID, RICE_FIELD_ID, WEATHER_ID
from telemetry.quantities import QUANTITIES

END_MS = 1_764_900_000_000  # 2025-12-05 09:00 WIB
MAIZE = DEMO_FIELDS[0]


@pytest.fixture(scope="module")
def spec() -> SeasonSpec:
    return SeasonSpec(end_ms=END_MS, days=75, step_s=1800)


@pytest.fixture(scope="module")
def season(spec: SeasonSpec) -> Season:
    return build_season(spec, DEMO_FIELDS, WEATHER_ID)


def _daily(spec: SeasonSpec, rows: Rows, quantity: str) -> dict[date, float]:
    by_day: dict[date, list[float]] = defaultdict(list)
    for t, values in rows:
        by_day[spec.local_day(t)].append(values[quantity])
    return {day: statistics.mean(values) for day, values in sorted(by_day.items())}


def test_every_value_is_a_catalogue_quantity_in_its_plausible_range(season: Season) -> None:
    assert set(season.readings) == {WEATHER_ID, "soil-1", "soil-2"}
    for device, rows in season.readings.items():
        times = [t for t, _ in rows]
        assert times == sorted(set(times)), device
        for _, values in rows:
            for key, value in values.items():
                assert QUANTITIES[key].in_plausible_range(value), (device, key, value)


def test_the_weather_is_lampungs_wet_season(spec: SeasonSpec, season: Season) -> None:
    rows = season.readings[WEATHER_ID]
    column = {key: [v[key] for _, v in rows] for key in rows[0][1]}
    assert min(column["air_temperature"]) >= 23.0 and max(column["air_temperature"]) <= 33.0
    assert min(column["air_humidity"]) >= 60.0 and max(column["air_humidity"]) <= 98.0
    assert min(column["wind_speed"]) >= 0.5 and max(column["wind_speed"]) <= 3.0
    assert max(column["solar_radiation"]) <= 950.0 and max(column["solar_radiation"]) > 700.0
    night = [v["solar_radiation"] for t, v in rows if spec.local_hour(t) < 5]
    assert set(night) == {0.0}
    # Rain in 0.2 mm tips of the gauge; none in the dry spell or the earlier gap, most wet days.
    assert all(abs(mm / 0.2 - round(mm / 0.2)) < 1e-6 for mm in column["rain"])
    rain = rain_by_day(spec, rows)
    for ago in range(75):
        if ago < spec.dry_spell_days or ago in GAP_DAYS_AGO:
            assert rain.get(spec.day_ago(ago), 0.0) == 0.0, ago
    wet = [spec.day_ago(ago) for ago in range(40, 75) if ago not in GAP_DAYS_AGO]
    assert sum(rain.get(day, 0.0) > 0 for day in wet) > len(wet) / 2
    assert statistics.mean(daily_et0_mm(spec, rows, 95.0)[spec.day_ago(n)] for n in (1, 2)) > 4.0


def test_the_same_date_gives_the_same_season(spec: SeasonSpec, season: Season) -> None:
    assert build_season(spec, DEMO_FIELDS, WEATHER_ID).readings == season.readings


def test_the_dry_spell_dries_the_maize_below_its_limit(spec: SeasonSpec, season: Season) -> None:
    moisture = _daily(spec, season.readings["soil-1"], "soil_moisture")
    spell = [moisture[spec.day_ago(ago)] for ago in range(spec.dry_spell_days - 1, -1, -1)]
    assert all(later < earlier for earlier, later in itertools.pairwise(spell))
    dry = crop_limits("jagung", MAIZE.soil).dry
    assert spell[-2] < dry and spell[-1] < dry
    assert spell[0] > dry + 4  # the spell began near field capacity


def test_rain_and_irrigation_wet_the_soil(spec: SeasonSpec, season: Season) -> None:
    rows = season.readings["soil-1"]
    rain = {t: v["rain"] for t, v in season.readings[WEATHER_ID]}
    # After each heavy shower (5 mm in half an hour) the probe reads wetter than before it.
    heavy = [i for i, (t, _) in enumerate(rows) if rain[t] >= 5.0 and i > 0]
    assert heavy
    for i in heavy:
        assert rows[i][1]["soil_moisture"] > rows[i - 1][1]["soil_moisture"] - 0.5
    assert (
        statistics.mean(
            rows[i][1]["soil_moisture"] - rows[i - 1][1]["soil_moisture"] for i in heavy
        )
        > 1.0
    )
    # The recorded irrigations in the earlier gap wet the maize's soil that morning.
    for ago in (31, 28):
        day = spec.day_ago(ago)
        by_hour = {
            spec.local_hour(t): v["soil_moisture"] for t, v in rows if spec.local_day(t) == day
        }
        assert by_hour[9.0] > by_hour[6.5] + 1.0, (ago, by_hour)


def test_the_records_are_what_the_farmers_did(spec: SeasonSpec, season: Season) -> None:
    by_field: dict[str, list] = defaultdict(list)
    for field_id, act in season.records:
        by_field[field_id].append(act)
    kinds = {f: {a.kind for a in acts} for f, acts in by_field.items()}
    assert {RecordKind.PLANTING, RecordKind.LIME, RecordKind.IRRIGATION} <= kinds[FIELD_ID]
    assert (
        RecordKind.PLANTING in kinds[RICE_FIELD_ID]
        and RecordKind.PLANTING in kinds[COFFEE_FIELD_ID]
    )
    maize_water = [a for a in by_field[FIELD_ID] if a.kind is RecordKind.IRRIGATION]
    assert len(maize_water) == 2 and all(a.days_ago in GAP_DAYS_AGO for a in maize_water)
    lime = next(a for a in by_field[FIELD_ID] if a.kind is RecordKind.LIME)
    assert lime.product == "dolomit" and lime.entered_by == "ppl-sari"
    ph = _daily(spec, season.readings["soil-1"], "soil_ph")
    assert 5.0 <= statistics.mean(list(ph.values())[-20:]) <= 5.4  # acid Ultisol, limed


def test_the_paddy_is_irrigated_when_awd_says_so(spec: SeasonSpec, season: Season) -> None:
    rice = next(f for f in DEMO_FIELDS if f.field_id == RICE_FIELD_ID)
    water = {
        spec.day_ago(a.days_ago): a.amount
        for f, a in season.records
        if f == RICE_FIELD_ID and a.kind is RecordKind.IRRIGATION
    }
    assert water, "the dry spell empties the paddy at least once"
    rows = season.readings[WEATHER_ID]
    et0, rain = daily_et0_mm(spec, rows, rice.elevation_m), rain_by_day(spec, rows)
    planted = spec.day_ago(rice.planted_days_ago)
    days = [
        DayInput(
            spec.day_ago(n),
            et0.get(spec.day_ago(n)) if n else None,
            rain.get(spec.day_ago(n), 0.0),
            irrigation_mm=water.get(spec.day_ago(n), 0.0),
        )
        for n in range(rice.planted_days_ago, -1, -1)
    ]
    run = run_paddy(CROPS["padi"], planted, days)
    assert not any(s.irrigation_needed for s in run.states)


def test_agronomy_finds_the_maize_stressed(spec: SeasonSpec, season: Season) -> None:
    """The water balance as the advice runs it (station ET0, rain, records, the probe's daily
    mean) ends with the maize past its readily available water."""
    rows = season.readings[WEATHER_ID]
    et0, rain = daily_et0_mm(spec, rows, MAIZE.elevation_m), rain_by_day(spec, rows)
    probe = _daily(spec, season.readings["soil-1"], "soil_moisture")
    water = {
        spec.day_ago(a.days_ago): a.amount or 0.0
        for f, a in season.records
        if f == FIELD_ID and a.kind is RecordKind.IRRIGATION
    }
    planted = spec.day_ago(MAIZE.planted_days_ago)
    days = [
        DayInput(
            day,
            et0[day] if day < spec.today else None,
            rain.get(day, 0.0),
            irrigation_mm=water.get(day, 0.0),
            probe_raw_pct=probe[day],
        )
        for day in sorted(probe)
        if day >= planted
    ]
    run = run_balance(CROPS["jagung"], MAIZE.soil, planted, days)
    assert run.last.stressed and run.states[-2].stressed
    assert not run.states[-spec.dry_spell_days - 1].stressed


@pytest.mark.parametrize(
    ("days", "step_s", "dry"), [(0, 900, 14), (121, 900, 14), (75, 7, 14), (75, 900, 21)]
)
def test_a_season_that_cannot_be_made_is_refused(days: int, step_s: int, dry: int) -> None:
    with pytest.raises(ValueError, match="must"):
        SeasonSpec(end_ms=END_MS, days=days, step_s=step_s, dry_spell_days=dry)
