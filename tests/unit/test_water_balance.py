"""FAO-56 ch. 8 root-zone balance, its probe correction and projection, and the paddy balance.

Hand calculations use maize (jagung) in mid-season on loam: Kc 1.20, Zr 1.0 m, FC 0.25, WP
0.12, so TAW = 130 mm (eq. 82); at ET0 5 mm ETc = 6 mm, p = 0.55 + 0.04 (5 - 6) = 0.51
(Table 22 footnote) and RAW = 0.51 * 130 = 66.3 mm (eq. 83).
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agronomy.crops import CROPS, crop
from agronomy.paddy import PaddyMode, PaddySettings, project_paddy, run_paddy
from agronomy.soils import TEXTURES, ProbeCalibration, soil_from_texture
from agronomy.water_balance import (
    LAMPUNG_ET0_MM,
    BalanceInputError,
    BalanceSettings,
    DayInput,
    Et0Source,
    PondedCropError,
    Source,
    litres,
    project,
    run_balance,
)
from telemetry.reading import Quality

PLANTED = date(2024, 1, 1)
MAIZE, RICE, LOAM = crop("jagung"), crop("padi"), soil_from_texture("loam")
TAW, RAW, ETC = 130.0, 66.3, 6.0


def season_day(n: int) -> date:
    """Calendar date of season day ``n`` (1 = planting day)."""
    return PLANTED + timedelta(days=n - 1)


def dry_days(first: int, count: int, et0: float = 5.0) -> list[DayInput]:
    """``count`` rainless days from season day ``first`` at a constant ET0."""
    return [DayInput(season_day(first + i), et0_mm=et0, rain_mm=0.0) for i in range(count)]


# -- the root-zone balance --------------------------------------------------------------


def test_dry_spell_follows_etc_until_raw_then_ks_slows_it() -> None:
    run = run_balance(MAIZE, LOAM, PLANTED, dry_days(61, 10), initial_depletion_mm=40.0)
    # By hand, FAO-56 eq. 84/85: Ks = 1 while Dr_prev <= RAW, else
    # Ks = (TAW - Dr_prev) / ((1 - p) TAW); Dr = Dr_prev + Ks ETc.
    expected, dr = [], 40.0
    for _ in range(10):
        ks = 1.0 if dr <= RAW else (TAW - dr) / ((1 - 0.51) * TAW)
        dr += ks * ETC
        expected.append((ks, dr))
    # The first five days use water at the full rate: 46, 52, 58, 64, 70 mm.
    assert [s.depletion_mm for s in run.states[:5]] == pytest.approx([46, 52, 58, 64, 70])
    # Day six starts above RAW: Ks = (130 - 70) / (0.49 * 130) = 0.9419.
    assert run.states[5].ks == pytest.approx(60 / 63.7)
    for state, (ks, dr) in zip(run.states, expected, strict=True):
        assert state.taw_mm == pytest.approx(TAW)
        assert state.raw_mm == pytest.approx(RAW)
        assert state.ks == pytest.approx(ks)
        assert state.etc_adj_mm == pytest.approx(ks * ETC)
        assert state.depletion_mm == pytest.approx(dr)
        assert state.source is Source.MODEL
    assert run.states[4].stressed and not run.states[3].stressed
    assert run.last.depletion_mm < 40 + 10 * ETC  # stress slowed the drying


def test_rain_that_overfills_the_root_zone_percolates() -> None:
    days = [DayInput(season_day(70), et0_mm=5.0, rain_mm=80.0)]
    state = run_balance(MAIZE, LOAM, PLANTED, days, initial_depletion_mm=30.0).last
    # eq. 88: DP = 80 - 6 - 30 = 44 mm; the root zone ends at field capacity.
    assert state.deep_percolation_mm == pytest.approx(44.0)
    assert state.depletion_mm == 0.0
    assert state.moisture_pct == pytest.approx(25.0)


def test_light_rain_under_a_fifth_of_et0_is_ignored() -> None:
    days = [DayInput(season_day(70), et0_mm=5.0, rain_mm=0.8)]  # under 0.2 * 5 = 1 mm
    state = run_balance(MAIZE, LOAM, PLANTED, days, initial_depletion_mm=10.0).last
    assert state.effective_rain_mm == 0.0
    assert state.depletion_mm == pytest.approx(16.0)


def test_optional_runoff_of_heavy_rain() -> None:
    days = [DayInput(season_day(70), et0_mm=5.0, rain_mm=80.0)]
    cfg = BalanceSettings(runoff_fraction=0.5)
    state = run_balance(MAIZE, LOAM, PLANTED, days, settings=cfg, initial_depletion_mm=60.0).last
    assert state.runoff_mm == pytest.approx(0.5 * (80 - 50))  # above BMKG's 50 mm "lebat"
    assert state.effective_rain_mm == pytest.approx(65.0)
    assert state.deep_percolation_mm == 0.0
    assert state.depletion_mm == pytest.approx(60 - 65 + 6)


def test_irrigating_the_advised_amount_refills_to_field_capacity() -> None:
    run = run_balance(MAIZE, LOAM, PLANTED, dry_days(61, 10), initial_depletion_mm=40.0)
    advice = project(MAIZE, LOAM, PLANTED, run.states, et0_mm=5.0)
    day = run.last.day + timedelta(days=1)
    watered = DayInput(day, et0_mm=5.0, rain_mm=0.0, irrigation_mm=advice.net_irrigation_mm)
    after = run_balance(MAIZE, LOAM, PLANTED, [watered], initial_depletion_mm=run.last.depletion_mm)
    assert after.last.depletion_mm == pytest.approx(0.0, abs=1e-9)
    assert after.last.deep_percolation_mm == pytest.approx(0.0, abs=1e-9)


def test_projection_days_to_stress_and_irrigation_by_hand() -> None:
    run = run_balance(MAIZE, LOAM, PLANTED, dry_days(61, 1), initial_depletion_mm=34.0)
    assert run.last.depletion_mm == pytest.approx(40.0)
    advice = project(MAIZE, LOAM, PLANTED, run.states, days=14)
    assert advice.et0_mm == pytest.approx(5.0)  # the mean of the recent days
    # 46, 52, 58, 64, 70: the fifth day ahead passes RAW (66.3 mm).
    assert advice.days_to_stress == 5
    assert advice.stress_on == run.last.day + timedelta(days=5)
    assert advice.net_irrigation_mm == pytest.approx(46.0)  # today's 40 + tomorrow's ETc
    assert advice.net_irrigation_at_stress_mm == pytest.approx(70.0)
    assert advice.litres(2500.0) == pytest.approx(46.0 * 2500)  # a quarter hectare
    assert litres(1.0, 1.0) == 1.0
    assert all(s.source is Source.MODEL for s in advice.states)


def test_projection_when_already_stressed_or_never() -> None:
    run = run_balance(MAIZE, LOAM, PLANTED, dry_days(61, 10), initial_depletion_mm=40.0)
    stressed = project(MAIZE, LOAM, PLANTED, run.states)
    assert stressed.days_to_stress == 0 and stressed.stress_on == run.last.day
    wet = run_balance(MAIZE, LOAM, PLANTED, dry_days(61, 1, et0=1.0))
    calm = project(MAIZE, LOAM, PLANTED, wet.states, days=3)
    assert calm.days_to_stress is None and calm.net_irrigation_at_stress_mm is None


def _truth_and_inputs() -> tuple[list[DayInput], list[float], list[float]]:
    """35 mid-season days: true ET0, rain every 5th day; (inputs, truth Dr, truth moisture)."""
    days = [
        DayInput(
            season_day(61 + i),
            et0_mm=4.0 + (i % 3) * 0.5,
            rain_mm=25.0 if i % 5 == 4 else 0.0,
        )
        for i in range(35)
    ]
    truth = run_balance(MAIZE, LOAM, PLANTED, days, initial_depletion_mm=20.0)
    return days, [s.depletion_mm for s in truth.states], [s.moisture_pct for s in truth.states]


def test_probe_keeps_a_biased_model_on_track() -> None:
    days, truth_dr, truth_theta = _truth_and_inputs()
    # A capacitive probe reading through a two-point calibration, with +-0.3 % noise and
    # every fifth day missing.
    cal = ProbeCalibration.two_point(raw_dry=12, true_dry=15, raw_wet=42, true_wet=33)
    biased, with_probe = [], []
    for i, (inp, theta) in enumerate(zip(days, truth_theta, strict=True)):
        high = DayInput(inp.day, et0_mm=inp.et0_mm * 1.3, rain_mm=inp.rain_mm)  # ET0 30 % high
        noisy = theta + (0.3 if i % 2 else -0.3)
        raw = None if i % 5 == 4 else (noisy - cal.offset) / cal.scale
        biased.append(high)
        with_probe.append(
            DayInput(high.day, et0_mm=high.et0_mm, rain_mm=high.rain_mm, probe_raw_pct=raw)
        )
    model = run_balance(MAIZE, LOAM, PLANTED, biased, initial_depletion_mm=20.0)
    cfg = BalanceSettings(calibration=cal)
    fused = run_balance(MAIZE, LOAM, PLANTED, with_probe, settings=cfg, initial_depletion_mm=20.0)
    drift = [s.depletion_mm - truth for s, truth in zip(model.states, truth_dr, strict=True)]
    assert max(drift) > 20.0  # the model alone drifts ever drier
    for state, truth in zip(fused.states, truth_dr, strict=True):
        assert state.depletion_mm == pytest.approx(truth, abs=6.0)  # 3 mm noise + a biased day
    assert fused.probe_days == 28 and fused.rejected_probe_days == 0
    assert fused.states[3].source is Source.PROBE and fused.states[3].days_since_probe == 0
    assert fused.states[4].source is Source.MODEL and fused.states[4].days_since_probe == 1
    assert model.last.days_since_probe is None


def test_probe_weight_blends_model_and_probe() -> None:
    inp = DayInput(season_day(70), et0_mm=5.0, rain_mm=0.0, probe_raw_pct=20.0)  # Dr 50 mm
    cfg = BalanceSettings(probe_weight=0.5)
    state = run_balance(MAIZE, LOAM, PLANTED, [inp], settings=cfg, initial_depletion_mm=24.0).last
    assert state.model_depletion_mm == pytest.approx(30.0)
    assert state.depletion_mm == pytest.approx(40.0)  # halfway to the probe's 50 mm
    assert state.correction_mm == pytest.approx(10.0)
    assert state.probe_pct == pytest.approx(20.0)


@pytest.mark.parametrize(
    ("raw", "quality"), [(20.0, Quality.BAD), (20.0, Quality.SUSPECT), (0.5, Quality.GOOD)]
)
def test_bad_or_implausible_probe_readings_are_not_used(raw: float, quality: Quality) -> None:
    inp = DayInput(season_day(70), et0_mm=5.0, probe_raw_pct=raw, probe_quality=quality)
    run = run_balance(MAIZE, LOAM, PLANTED, [inp], initial_depletion_mm=24.0)
    assert run.last.source is Source.MODEL and run.last.depletion_mm == pytest.approx(30.0)
    assert run.rejected_probe_days == 1 and run.probe_days == 0


def test_missing_et0_falls_back_to_recent_mean_then_climate() -> None:
    values = [None, 5.0, 6.0, 7.0, None]
    days = [DayInput(season_day(61 + i), et0_mm=v) for i, v in enumerate(values)]
    run = run_balance(MAIZE, LOAM, PLANTED, days)
    assert [s.et0_source for s in run.states] == [
        Et0Source.CLIMATE,
        Et0Source.MEASURED,
        Et0Source.MEASURED,
        Et0Source.MEASURED,
        Et0Source.RECENT_MEAN,
    ]
    assert run.states[0].et0_mm == LAMPUNG_ET0_MM
    assert run.states[4].et0_mm == pytest.approx(6.0)
    assert run.missing_et0_days == 2
    gap = [DayInput(season_day(61), et0_mm=5.0)]
    gap += [DayInput(season_day(62 + i), et0_mm=None) for i in range(8)]
    late = run_balance(MAIZE, LOAM, PLANTED, gap).states
    assert late[7].et0_source is Et0Source.RECENT_MEAN  # day 1's value is 7 days back
    assert late[8].et0_source is Et0Source.CLIMATE


def test_missing_rain_counts_as_dry_and_is_counted() -> None:
    days = [DayInput(season_day(61), et0_mm=5.0, rain_mm=None)]
    run = run_balance(MAIZE, LOAM, PLANTED, days)
    assert run.missing_rain_days == 1 and run.last.rain_missing and run.last.rain_mm == 0.0


def test_growing_roots_grow_taw_and_keep_depletion() -> None:
    days = [DayInput(season_day(10 + i), et0_mm=0.0, rain_mm=0.0) for i in range(3)]
    run = run_balance(MAIZE, LOAM, PLANTED, days, initial_depletion_mm=10.0)
    taws = [s.taw_mm for s in run.states]
    assert taws[0] < taws[1] < taws[2]
    assert [s.depletion_mm for s in run.states] == pytest.approx([10.0, 10.0, 10.0])


def test_inputs_a_technician_must_correct() -> None:
    with pytest.raises(BalanceInputError, match="consecutive"):
        run_balance(MAIZE, LOAM, PLANTED, [DayInput(season_day(61)), DayInput(season_day(63))])
    with pytest.raises(BalanceInputError, match="irrigation record"):
        run_balance(MAIZE, LOAM, PLANTED, [DayInput(season_day(61), irrigation_mm=-5.0)])
    with pytest.raises(PondedCropError, match="run_paddy"):
        run_balance(RICE, LOAM, PLANTED, [DayInput(season_day(61))])
    with pytest.raises(BalanceInputError):
        BalanceSettings(probe_weight=0.0)


_UPLAND = sorted(cid for cid, c in CROPS.items() if not c.ponded)
_day_inputs = st.tuples(
    st.one_of(st.none(), st.floats(0.0, 9.0)),  # ET0
    st.one_of(st.none(), st.floats(0.0, 150.0)),  # rain
    st.sampled_from([0.0, 0.0, 0.0, 10.0, 25.0, 60.0]),  # irrigation
    st.one_of(st.none(), st.floats(0.0, 60.0)),  # probe
)


@settings(max_examples=60, deadline=None)
@given(
    crop_id=st.sampled_from(_UPLAND),
    texture=st.sampled_from(sorted(TEXTURES)),
    start=st.integers(1, 200),
    initial=st.floats(0.0, 300.0),
    weight=st.floats(0.1, 1.0),
    runoff=st.floats(0.0, 1.0),
    weather=st.lists(_day_inputs, min_size=1, max_size=40),
)
def test_balance_stays_in_bounds_and_conserves_water(
    crop_id: str,
    texture: str,
    start: int,
    initial: float,
    weight: float,
    runoff: float,
    weather: list[tuple[float | None, float | None, float, float | None]],
) -> None:
    days = [
        DayInput(season_day(start + i), et0_mm=e, rain_mm=r, irrigation_mm=irr, probe_raw_pct=p)
        for i, (e, r, irr, p) in enumerate(weather)
    ]
    cfg = BalanceSettings(probe_weight=weight, runoff_fraction=runoff)
    soil = soil_from_texture(texture)
    run = run_balance(
        CROPS[crop_id], soil, PLANTED, days, settings=cfg, initial_depletion_mm=initial
    )
    dr_prev = min(initial, run.states[0].taw_mm)
    taw_prev = 0.0
    for s in run.states:
        assert 0.0 <= s.depletion_mm <= s.taw_mm + 1e-9
        assert 0.0 <= s.ks <= 1.0 and -1e-9 <= s.etc_adj_mm <= s.etc_mm + 1e-9
        assert s.deep_percolation_mm >= 0.0 and s.taw_mm >= taw_prev - 1e-9
        water_in = s.effective_rain_mm + s.irrigation_mm
        water_out = s.etc_adj_mm + s.deep_percolation_mm
        # Depletion is the deficit below field capacity: inputs - outputs = its fall.
        assert dr_prev - s.depletion_mm == pytest.approx(
            water_in - water_out - s.correction_mm, abs=1e-6
        )
        assert s.rain_mm == pytest.approx(s.runoff_mm + s.effective_rain_mm) or (
            s.effective_rain_mm == 0.0
        )
        dr_prev, taw_prev = s.depletion_mm, s.taw_mm


# -- the paddy balance ------------------------------------------------------------------
# Rice mid-season (days 61-120 of 150): Kc 1.20, so at ET0 5 the field loses ETc 6 + SP 3 =
# 9 mm a day; below the surface the level falls 1 / 0.2 = 5 times faster.


def test_awd_lets_the_water_fall_to_15_cm_then_refills_to_5_cm() -> None:
    run = run_paddy(RICE, PLANTED, dry_days(70, 9))
    levels = [s.water_level_mm for s in run.states]
    assert levels == pytest.approx([41, 32, 23, 14, 5, -20, -65, -110, -155])
    assert [s.irrigation_needed for s in run.states] == [False] * 8 + [True]
    assert not any(s.keep_ponded for s in run.states)
    last = run.last
    assert last.storage_mm == pytest.approx(-31.0)
    assert last.refill_mm == pytest.approx(81.0)  # back to +50 mm
    refill = DayInput(last.day + timedelta(days=1), et0_mm=5.0, rain_mm=0.0, irrigation_mm=90.0)
    after = run_paddy(RICE, PLANTED, [refill], initial_level_mm=last.water_level_mm)
    assert after.last.water_level_mm == pytest.approx(50.0)  # 81 + the day's 9 mm of losses


def test_paddy_projection_days_to_irrigation() -> None:
    run = run_paddy(RICE, PLANTED, dry_days(70, 1))
    ahead = project_paddy(RICE, PLANTED, run.states)
    assert ahead.days_to_irrigation == 8
    assert ahead.irrigate_on == run.last.day + timedelta(days=8)
    assert ahead.refill_mm == pytest.approx(50 - 32)  # tomorrow, to end it at +50 mm
    assert ahead.refill_when_needed_mm == pytest.approx(81.0)


def test_continuous_flooding_refills_before_the_water_is_gone() -> None:
    cfg = PaddySettings(mode=PaddyMode.CONTINUOUS)
    run = run_paddy(RICE, PLANTED, dry_days(70, 4), settings=cfg)
    assert [s.water_level_mm for s in run.states] == pytest.approx([41, 32, 23, 14])
    assert [s.irrigation_needed for s in run.states] == [False, False, False, True]
    assert all(s.keep_ponded for s in run.states)
    assert run.last.refill_mm == pytest.approx(36.0)


def test_awd_keeps_the_field_ponded_around_flowering_and_early() -> None:
    flowering = run_paddy(RICE, PLANTED, dry_days(113, 4))  # flowering day 120 +- 7
    assert all(s.keep_ponded for s in flowering.states)
    assert flowering.last.irrigation_needed  # 14 mm is under the 20 mm minimum
    early = run_paddy(RICE, PLANTED, dry_days(5, 4))
    assert all(s.keep_ponded for s in early.states)


def test_no_irrigation_while_draining_for_harvest() -> None:
    run = run_paddy(RICE, PLANTED, dry_days(141, 10), initial_level_mm=-100.0)
    assert not any(s.irrigation_needed for s in run.states)
    assert all(s.refill_mm == 0.0 for s in run.states)


def test_bund_overflow_and_observed_level() -> None:
    days = [
        DayInput(season_day(70), et0_mm=5.0, rain_mm=200.0),
        DayInput(season_day(71), et0_mm=5.0, water_level_mm=-40.0),
    ]
    run = run_paddy(RICE, PLANTED, days)
    wet, seen = run.states
    assert wet.overflow_mm == pytest.approx(50 + 200 - 9 - 150)
    assert wet.water_level_mm == pytest.approx(150.0)
    assert seen.source is Source.OBSERVED and seen.days_since_observation == 0
    assert seen.storage_mm == pytest.approx(-8.0)  # -40 mm level x drainable porosity 0.2
    assert seen.correction_mm == pytest.approx(-8.0 - (150 - 9))
    assert run.observed_days == 1


@settings(max_examples=60, deadline=None)
@given(
    mode=st.sampled_from(list(PaddyMode)),
    start=st.integers(1, 160),
    initial=st.floats(-300.0, 150.0),
    weather=st.lists(_day_inputs, min_size=1, max_size=40),
)
def test_paddy_conserves_water_and_respects_the_bund(
    mode: PaddyMode,
    start: int,
    initial: float,
    weather: list[tuple[float | None, float | None, float, float | None]],
) -> None:
    cfg = PaddySettings(mode=mode)
    days = [
        DayInput(
            season_day(start + i),
            et0_mm=e,
            rain_mm=r,
            irrigation_mm=irr,
            water_level_mm=None if p is None else p * 5 - 150,
        )
        for i, (e, r, irr, p) in enumerate(weather)
    ]
    run = run_paddy(RICE, PLANTED, days, settings=cfg, initial_level_mm=initial)
    storage_prev = cfg.storage(initial)
    for s in run.states:
        assert s.water_level_mm <= cfg.bund_height_mm + 1e-9
        assert s.overflow_mm >= 0.0 and s.refill_mm >= 0.0
        change = s.rain_mm + s.irrigation_mm - s.etc_mm - s.seepage_percolation_mm
        change += s.correction_mm - s.overflow_mm
        assert s.storage_mm - storage_prev == pytest.approx(change, abs=1e-6)
        storage_prev = s.storage_mm
