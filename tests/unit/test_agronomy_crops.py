"""The crop catalogue: stages, Kc (FAO-56 eq. 66, eq. 62), p adjustment, roots, GDD."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from agronomy.crops import (
    CROPS,
    BeforePlantingError,
    Climate,
    GrowingDegreeDaysError,
    Stage,
    UnknownCropError,
    crop,
    crop_day,
    crop_day_by_heat,
    crop_day_gdd,
    growing_degree_days,
    kc_adjusted,
    p_adjusted,
)
from agronomy.moisture import dry_limit
from alerts.default_rules import DEFAULT_RULES

PLANTED = date(2024, 1, 1)


def on(season_day: int) -> date:
    """The calendar date of a season day (day 1 = planting day)."""
    return PLANTED + timedelta(days=season_day - 1)


def test_catalogue_holds_lampung_crops_with_indonesian_ids() -> None:
    assert set(CROPS) == {
        "padi",
        "jagung",
        "singkong",
        "kopi",
        "lada",
        "kedelai",
        "cabai",
        "kacang_tanah",
    }
    for c in CROPS.values():
        assert c.stages.total > 0
        assert 0.1 <= c.p <= 0.8
        assert c.root_depth_min_m < c.root_depth_max_m
    assert CROPS["padi"].ponded and not CROPS["jagung"].ponded
    assert CROPS["kopi"].perennial and CROPS["lada"].perennial


def test_p_agrees_with_the_default_dry_alert_rules() -> None:
    # Pages and alerts must tell the same story: the rules' thresholds come from these p.
    rules = {r.name: r for r in DEFAULT_RULES}
    for crop_id in ("padi", "jagung", "singkong", "kopi", "lada"):
        rule = rules[f"{crop_id}-tanah-kering"]
        assert rule.threshold == dry_limit(CROPS[crop_id].p)


def test_unknown_crop_names_the_known_ones() -> None:
    with pytest.raises(UnknownCropError) as caught:
        crop("sawit")
    assert isinstance(caught.value, KeyError)
    assert "sawit" in str(caught.value) and "jagung" in str(caught.value)


def test_maize_stages_and_kc_by_hand() -> None:
    # FAO-56 Table 11 maize, Nigeria (humid): 20/35/40/30 days; Table 12: 0.30/1.20/0.35.
    maize = crop("jagung")
    expected = {
        1: (Stage.INITIAL, 0.30),
        20: (Stage.INITIAL, 0.30),
        # eq. 66: Kc = Kc_ini + (i - L_ini) / L_dev * (Kc_mid - Kc_ini)
        21: (Stage.DEVELOPMENT, 0.30 + 1 / 35 * 0.90),
        30: (Stage.DEVELOPMENT, 0.30 + 10 / 35 * 0.90),
        55: (Stage.DEVELOPMENT, 1.20),
        56: (Stage.MID, 1.20),
        95: (Stage.MID, 1.20),
        # eq. 66 in the late stage: Kc = Kc_mid + (i - 95) / 30 * (Kc_end - Kc_mid)
        96: (Stage.LATE, 1.20 + 1 / 30 * (0.35 - 1.20)),
        110: (Stage.LATE, 1.20 + 15 / 30 * (0.35 - 1.20)),
        125: (Stage.LATE, 0.35),
    }
    for season_day, (stage, kc) in expected.items():
        cd = crop_day(maize, PLANTED, on(season_day))
        assert cd.stage is stage, season_day
        assert cd.kc == pytest.approx(kc), season_day
        assert cd.season_day == season_day
        assert cd.days_after_planting == season_day - 1
        assert not cd.season_over
    assert crop_day(maize, PLANTED, on(110)).kc == pytest.approx(0.775)


def test_rice_development_kc_by_hand() -> None:
    # Table 11 rice, tropics: 30/30/60/30; Table 12: Kc ini 1.05, mid 1.20.
    cd = crop_day(crop("padi"), PLANTED, on(45))
    assert cd.stage is Stage.DEVELOPMENT
    assert cd.kc == pytest.approx(1.05 + 15 / 30 * (1.20 - 1.05))


def test_season_is_over_after_the_late_stage() -> None:
    cd = crop_day(crop("jagung"), PLANTED, on(126))
    assert cd.season_over
    assert cd.stage is Stage.LATE
    assert cd.kc == pytest.approx(0.35)


def test_roots_grow_linearly_to_their_maximum_at_mid_season() -> None:
    maize = crop("jagung")  # 0.15 m at sowing, 1.0 m from the start of mid-season (day 56)
    assert crop_day(maize, PLANTED, on(1)).root_depth_m == pytest.approx(0.15 + 0.85 / 55)
    assert crop_day(maize, PLANTED, on(28)).root_depth_m == pytest.approx(0.15 + 0.85 * 28 / 55)
    assert crop_day(maize, PLANTED, on(55)).root_depth_m == pytest.approx(1.0)
    assert crop_day(maize, PLANTED, on(90)).root_depth_m == pytest.approx(1.0)


def test_before_planting_is_an_error_a_technician_can_fix() -> None:
    with pytest.raises(BeforePlantingError, match="planting date"):
        crop_day(crop("jagung"), PLANTED, PLANTED - timedelta(days=1))


def test_perennials_cycle_yearly_with_full_roots() -> None:
    coffee = crop("kopi")
    first = crop_day(coffee, PLANTED, PLANTED)
    again = crop_day(coffee, PLANTED, PLANTED + timedelta(days=365))
    before = crop_day(coffee, PLANTED, PLANTED - timedelta(days=10))
    assert first.season_day == again.season_day == 1
    assert before.season_day == 356
    for cd in (first, again, before):
        assert not cd.season_over
        assert cd.root_depth_m == pytest.approx(coffee.root_depth_max_m)
    # Coffee, bare ground (FAO-56 Table 12): 0.90 / 0.95 / 0.95.
    assert first.kc == pytest.approx(0.90)
    assert crop_day(coffee, PLANTED, on(200)).kc == pytest.approx(0.95)


def test_kc_adjusted_by_eq_62() -> None:
    # Kc_mid 1.20, u2 1.5 m/s, RHmin 70 %, h 2 m:
    # 1.20 + (0.04 (1.5 - 2) - 0.004 (70 - 45)) (2/3)^0.3 = 1.20 - 0.12 * 0.8855
    assert kc_adjusted(1.20, 1.5, 70.0, 2.0) == pytest.approx(1.20 - 0.12 * (2 / 3) ** 0.3)
    assert kc_adjusted(1.20, 1.5, 70.0, 2.0) == pytest.approx(1.0937, abs=1e-4)
    # The table's own climate needs no adjustment; Kc under 0.45 is never adjusted (eq. 65).
    assert kc_adjusted(1.20, 2.0, 45.0, 2.0) == pytest.approx(1.20)
    assert kc_adjusted(0.35, 1.0, 90.0, 2.0) == 0.35
    # Inputs are held to FAO-56's ranges: u2 1-6 m/s, RHmin 20-80 %.
    assert kc_adjusted(1.0, 10.0, 10.0, 3.0) == kc_adjusted(1.0, 6.0, 20.0, 3.0)


def test_crop_day_applies_the_climate_to_mid_and_end() -> None:
    maize, humid = crop("jagung"), Climate(u2_m_s=1.5, rh_min_pct=70.0)
    mid = crop_day(maize, PLANTED, on(70), humid)
    assert mid.kc == pytest.approx(kc_adjusted(1.20, 1.5, 70.0, 2.0))
    assert crop_day(maize, PLANTED, on(10), humid).kc == pytest.approx(0.30)  # initial: no


def test_p_adjustment_by_table_22_footnote() -> None:
    assert p_adjusted(0.55, 5.0) == pytest.approx(0.55)
    assert p_adjusted(0.55, 6.0) == pytest.approx(0.51)  # 0.55 + 0.04 (5 - 6)
    assert p_adjusted(0.55, 2.0) == pytest.approx(0.67)
    assert p_adjusted(0.20, 10.0) == pytest.approx(0.10)  # bounded below
    assert p_adjusted(0.70, 0.0) == pytest.approx(0.80)  # bounded above


def test_gdd_stages_match_days_at_lampung_mean_temperature() -> None:
    maize = crop("jagung")
    for season_day in (10, 21, 40, 56, 96, 110, 126):
        temps = [27.0] * season_day
        by_heat = crop_day_gdd(maize, PLANTED, on(season_day), temps)
        by_days = crop_day(maize, PLANTED, on(season_day))
        assert by_heat.stage is by_days.stage
        assert by_heat.kc == pytest.approx(by_days.kc)
        assert by_heat.season_over == by_days.season_over


def test_gdd_slows_stages_in_cool_weather_by_hand() -> None:
    maize = crop("jagung")  # base 10 degC; stages 340/595/680/510 degC day
    cd = crop_day_gdd(maize, PLANTED, on(30), [22.0] * 30)  # 30 x 12 = 360 degC day
    assert cd.stage is Stage.DEVELOPMENT
    assert cd.kc == pytest.approx(0.30 + (360 - 340) / 595 * 0.90)
    assert crop_day(maize, PLANTED, on(30)).kc > cd.kc


def test_growing_degree_days_base_and_cut_off() -> None:
    maize, rice = crop("jagung"), crop("padi")
    assert growing_degree_days(maize, 27.0) == pytest.approx(17.0)
    assert growing_degree_days(maize, 35.0) == pytest.approx(20.0)  # 30 degC cut-off
    assert growing_degree_days(maize, 8.0) == 0.0
    assert growing_degree_days(rice, 35.0) == pytest.approx(25.0)  # no cut-off set


def test_gdd_needs_stages_and_enough_temperatures() -> None:
    with pytest.raises(GrowingDegreeDaysError, match="crop_day"):
        crop_day_gdd(crop("singkong"), PLANTED, on(5), [27.0] * 5)
    with pytest.raises(GrowingDegreeDaysError, match="missing days"):
        crop_day_gdd(crop("jagung"), PLANTED, on(5), [27.0] * 4)


def test_a_hot_spell_moves_maize_on_by_heat_and_no_station_keeps_the_calendar() -> None:
    maize = CROPS["jagung"]
    planted = date(2026, 9, 1)
    day = planted + timedelta(days=40)
    calendar = crop_day(maize, planted, day)
    assert crop_day_by_heat(maize, planted, day, {}) == calendar
    # 30 degC every day: 20 GDD a day (base 10) where the stages were set at 17 (27 degC).
    hot = {planted + timedelta(days=n): 30.0 for n in range(41)}
    by_heat = crop_day_by_heat(maize, planted, day, hot)
    assert by_heat.stage is Stage.DEVELOPMENT and by_heat.kc > calendar.kc
    assert by_heat.root_depth_m > calendar.root_depth_m
    # Coffee's stages do not follow heat: the calendar, whatever the weather.
    coffee = CROPS["kopi"]
    assert crop_day_by_heat(coffee, planted, day, hot) == crop_day(coffee, planted, day)
