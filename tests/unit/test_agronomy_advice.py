"""Watering advice from a field's water balance, checked against FAO-56 by hand."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from agronomy.advice import Action, Confidence, paddy_advice, root_zone_advice
from agronomy.crops import CROPS
from agronomy.paddy import run_paddy
from agronomy.soils import soil_from_texture
from agronomy.water_balance import DayInput, run_balance

MAIZE = CROPS["jagung"]
RICE = CROPS["padi"]
LOAM = soil_from_texture("loam")
PLANTED = date(2026, 9, 1)
WET_DAYS = 58  # into mid-season (maize: 20 + 35 days), the root zone kept full by rain
AREA_M2 = 2500.0


def _season(dry_days: int, last_rain_mm: float = 0.0) -> list[DayInput]:
    days = [DayInput(PLANTED + timedelta(days=n), 5.0, 50.0) for n in range(WET_DAYS)]
    for n in range(dry_days):
        rain = last_rain_mm if n == dry_days - 1 else 0.0
        days.append(DayInput(PLANTED + timedelta(days=WET_DAYS + n), 5.0, rain))
    return days


def _hand_depletion(dry_days: int) -> tuple[float, float, float]:
    """FAO-56 by hand for maize in mid-season on loam, ET0 5 mm/day, no rain: (Dr after the dry
    days, RAW, tomorrow's ETc adj)."""
    taw = 1000 * (0.25 - 0.12) * 1.0  # eq. 82, Zr 1.0 m (maize's maximum here)
    etc = 1.20 * 5.0  # Kc mid (Table 12) x ET0
    p = 0.55 + 0.04 * (5 - etc)  # Table 22 and its footnote
    raw = p * taw  # eq. 83

    def etc_adj(dr: float) -> float:
        ks = 1.0 if dr <= raw else (taw - dr) / ((1 - p) * taw)  # eq. 84
        return ks * etc

    dr = 0.0
    for _ in range(dry_days):
        dr += etc_adj(dr)  # eq. 85 without rain or irrigation
    return dr, raw, etc_adj(dr)


def test_a_dry_spell_gives_water_now_with_the_fao56_amount() -> None:
    run = run_balance(MAIZE, LOAM, PLANTED, _season(12))
    advice = root_zone_advice(MAIZE, LOAM, PLANTED, run, AREA_M2)
    dr, raw, tomorrow = _hand_depletion(12)
    assert dr > raw  # stressed by hand too
    assert advice.action is Action.WATER_NOW and advice.in_days == 0
    # Net irrigation that ends tomorrow at field capacity: today's depletion + tomorrow's ETc.
    assert advice.amount_mm == pytest.approx(dr + tomorrow, rel=0.01)
    assert advice.litres == pytest.approx(advice.amount_mm * AREA_M2)
    assert advice.days_to_stress == 0
    assert advice.confidence is Confidence.MODEL
    assert advice.missing_weather_days == 0


def test_two_days_before_stress_it_says_water_in_two_days() -> None:
    run = run_balance(MAIZE, LOAM, PLANTED, _season(10))
    advice = root_zone_advice(MAIZE, LOAM, PLANTED, run, None)
    dr, _, _ = _hand_depletion(12)
    assert advice.action is Action.WATER_SOON and advice.in_days == 2
    assert advice.amount_mm == pytest.approx(dr, rel=0.01)  # the depletion on the stress day
    assert advice.litres is None  # no area recorded


def test_rain_that_refilled_the_root_zone_means_not_needed_because_of_rain() -> None:
    run = run_balance(MAIZE, LOAM, PLANTED, _season(12, last_rain_mm=90.0))
    advice = root_zone_advice(MAIZE, LOAM, PLANTED, run, AREA_M2)
    assert advice.action is Action.NOT_NEEDED and advice.rain_covered
    assert advice.amount_mm is None
    assert advice.in_days == 12  # 66 mm of RAW at 6 mm/day, stressed after the 12th day


def test_recorded_irrigation_of_the_advised_amount_means_not_needed() -> None:
    days = _season(12)
    run = run_balance(MAIZE, LOAM, PLANTED, days)
    amount = root_zone_advice(MAIZE, LOAM, PLANTED, run, AREA_M2).amount_mm
    assert amount is not None
    tomorrow = DayInput(days[-1].day + timedelta(days=1), 5.0, 0.0, irrigation_mm=amount)
    after = run_balance(MAIZE, LOAM, PLANTED, [*days, tomorrow])
    advice = root_zone_advice(MAIZE, LOAM, PLANTED, after, AREA_M2)
    assert after.last.depletion_mm == pytest.approx(0.0, abs=0.01)
    assert advice.action is Action.NOT_NEEDED and not advice.rain_covered


def test_a_probe_reading_makes_the_advice_probe_based() -> None:
    days = _season(12)
    days[-1] = DayInput(days[-1].day, 5.0, 0.0, probe_raw_pct=24.0)  # nearly field capacity
    run = run_balance(MAIZE, LOAM, PLANTED, days)
    advice = root_zone_advice(MAIZE, LOAM, PLANTED, run, AREA_M2)
    assert advice.confidence is Confidence.PROBE
    assert advice.action is Action.NOT_NEEDED  # the probe says the model was too dry


def test_irrigation_recorded_today_counts_although_the_probe_mean_is_still_dry() -> None:
    days = _season(12)
    dry_probe = 13.0  # today's mean: mostly readings from before the watering
    days[-1] = DayInput(days[-1].day, 5.0, 0.0, irrigation_mm=90.0, probe_raw_pct=dry_probe)
    run = run_balance(MAIZE, LOAM, PLANTED, days)
    assert run.last.depletion_mm == pytest.approx(0.0, abs=0.01)
    assert root_zone_advice(MAIZE, LOAM, PLANTED, run, AREA_M2).action is Action.NOT_NEEDED
    # A wet probe on an irrigation day still counts (it saw the water arrive).
    days[-1] = DayInput(days[-1].day, 5.0, 0.0, irrigation_mm=20.0, probe_raw_pct=24.0)
    assert run_balance(MAIZE, LOAM, PLANTED, days).last.depletion_mm == pytest.approx(10.0)


def test_days_without_a_station_are_counted() -> None:
    days = _season(12)
    for n in (-1, -2, -3):
        days[n] = DayInput(days[n].day, None, 0.0)
    advice = root_zone_advice(MAIZE, LOAM, PLANTED, run_balance(MAIZE, LOAM, PLANTED, days), None)
    assert advice.missing_weather_days == 3


def test_after_the_season_there_is_nothing_to_water() -> None:
    days = [DayInput(PLANTED + timedelta(days=n), 5.0, 0.0) for n in range(140)]
    run = run_balance(MAIZE, LOAM, PLANTED, days)
    assert root_zone_advice(MAIZE, LOAM, PLANTED, run, None).action is Action.SEASON_OVER


def test_an_awd_paddy_below_15_cm_is_watered_back_to_5_cm() -> None:
    days = [DayInput(PLANTED + timedelta(days=n), 5.0, 0.0) for n in range(40)]
    run = run_paddy(RICE, PLANTED, days)
    advice = paddy_advice(RICE, PLANTED, run, AREA_M2)
    assert run.last.irrigation_needed and run.last.water_level_mm <= -150
    assert advice.action is Action.WATER_NOW
    assert advice.amount_mm is not None and advice.amount_mm > 0
    assert advice.water_level_mm == run.last.water_level_mm


def test_a_paddy_near_harvest_is_left_to_dry() -> None:
    days = [DayInput(PLANTED + timedelta(days=n), 5.0, 10.0) for n in range(145)]
    advice = paddy_advice(RICE, PLANTED, run_paddy(RICE, PLANTED, days), None)
    assert advice.action is Action.DRAIN
