"""Soils: FAO-56 Table 19 classes, Saxton & Rawls 2006, TAW/RAW, probe calibration."""

from __future__ import annotations

import pytest

from agronomy.crops import crop
from agronomy.soils import (
    TEXTURES,
    CalibrationError,
    ProbeCalibration,
    Soil,
    SoilError,
    UnknownSoilError,
    depletion_from_moisture,
    moisture_from_depletion,
    raw_mm,
    soil_from_sand_clay,
    soil_from_texture,
    taw_mm,
)


def test_table_19_has_its_nine_classes() -> None:
    assert list(TEXTURES) == [
        "sand",
        "loamy_sand",
        "sandy_loam",
        "loam",
        "silt_loam",
        "silt",
        "silty_clay_loam",
        "silty_clay",
        "clay",
    ]
    for t in TEXTURES.values():
        assert t.wp.high <= t.fc.high and t.wp.low < t.fc.low
        assert t.rew_mm.low < t.tew_mm.low and t.rew_mm.high < t.tew_mm.high


def test_loam_midpoints_are_the_alert_rules_numbers() -> None:
    loam = soil_from_texture("loam")
    assert loam.fc == pytest.approx(0.25) and loam.wp == pytest.approx(0.12)
    assert loam.fc_pct == pytest.approx(25.0)  # what the default alert rules were set with
    assert loam.wp_pct == pytest.approx(12.0)
    assert "Table 19" in loam.source


@pytest.mark.parametrize("name", ["loam", "Loam", "lempung", "  LOAM "])
def test_texture_by_english_or_indonesian_name(name: str) -> None:
    assert soil_from_texture(name).name == "loam"


def test_multiword_textures() -> None:
    assert soil_from_texture("silty clay loam") == soil_from_texture("silty_clay_loam")
    assert soil_from_texture("liat berdebu").name == "silty clay"


def test_unknown_texture_lists_the_classes() -> None:
    with pytest.raises(UnknownSoilError) as caught:
        soil_from_texture("gambut")
    assert isinstance(caught.value, KeyError)
    assert "gambut" in str(caught.value) and "sandy_loam" in str(caught.value)


def test_saxton_rawls_loam_by_hand() -> None:
    # S = 0.40, C = 0.20, OM = 2.5 (Saxton & Rawls 2006 eq. 1 and 2, worked by hand):
    # t1500 = -0.0096 + 0.0974 + 0.015 + 0.005 - 0.0065 + 0.00544 + 0.031 = 0.13774
    # WP = 0.13774 + (0.14 * 0.13774 - 0.02) = 0.137024
    # t33 = -0.1004 + 0.039 + 0.0275 + 0.006 - 0.0135 + 0.03616 + 0.299 = 0.29376
    # FC = 0.29376 + (1.283 * 0.29376^2 - 0.374 * 0.29376 - 0.015) = 0.279611
    soil = soil_from_sand_clay(40, 20)
    assert soil.wp == pytest.approx(0.137024, abs=1e-6)
    assert soil.fc == pytest.approx(0.279611, abs=1e-6)
    assert "Saxton" in soil.source


@pytest.mark.parametrize(
    ("sand", "clay", "wp_pct", "fc_pct"),
    [
        # Saxton & Rawls 2006 Table 3 texture-class averages (OM 2.5 %), rounded to whole %.
        (88, 5, 5, 10),  # sand
        (65, 10, 8, 18),  # sandy loam
        (40, 20, 14, 28),  # loam
        (20, 15, 11, 31),  # silt loam
        (30, 35, 22, 36),  # clay loam
        (25, 50, 30, 42),  # clay
    ],
)
def test_saxton_rawls_texture_class_averages(
    sand: float, clay: float, wp_pct: float, fc_pct: float
) -> None:
    soil = soil_from_sand_clay(sand, clay)
    assert soil.wp_pct == pytest.approx(wp_pct, abs=0.6)
    assert soil.fc_pct == pytest.approx(fc_pct, abs=0.6)


def test_saxton_rawls_within_table_19_loam_ranges() -> None:
    soil, loam = soil_from_sand_clay(40, 20), TEXTURES["loam"]
    assert loam.fc.low <= soil.fc <= loam.fc.high
    assert loam.wp.low <= soil.wp <= loam.wp.high


def test_more_organic_matter_holds_more_water_at_field_capacity() -> None:
    assert soil_from_sand_clay(40, 20, 5.0).fc > soil_from_sand_clay(40, 20, 1.0).fc


@pytest.mark.parametrize(
    ("sand", "clay", "om"), [(70, 40, 2.5), (-1, 20, 2.5), (20, 70, 2.5), (40, 20, 12.0)]
)
def test_saxton_rawls_rejects_what_it_was_not_fitted_on(
    sand: float, clay: float, om: float
) -> None:
    with pytest.raises(SoilError):
        soil_from_sand_clay(sand, clay, om)


def test_soil_rejects_percentages_and_inverted_values() -> None:
    with pytest.raises(SoilError, match="divided by 100"):
        Soil("loam", 25.0, 12.0, "typo")
    with pytest.raises(SoilError):
        Soil("odd", 0.10, 0.20, "inverted")


def test_taw_and_raw_for_maize_on_loam_by_hand() -> None:
    # eq. 82: TAW = 1000 (0.25 - 0.12) 1.0 = 130 mm; eq. 83: RAW = 0.55 * 130 = 71.5 mm.
    loam, maize = soil_from_texture("loam"), crop("jagung")
    taw = taw_mm(loam, maize.root_depth_max_m)
    assert taw == pytest.approx(130.0)
    assert raw_mm(taw, maize.p) == pytest.approx(71.5)


def test_depletion_from_moisture_eq_87_and_back() -> None:
    loam = soil_from_texture("loam")
    assert depletion_from_moisture(loam, 20.0, 1.0) == pytest.approx(50.0)
    assert depletion_from_moisture(loam, 30.0, 1.0) == 0.0  # wetter than FC: none
    assert depletion_from_moisture(loam, 5.0, 1.0) == pytest.approx(130.0)  # TAW at most
    assert moisture_from_depletion(loam, 50.0, 1.0) == pytest.approx(20.0)


def test_two_point_probe_calibration_by_hand() -> None:
    # Raw 10 % in the dry sample that weighed 15 %, raw 40 % in the wet one at 35 %.
    cal = ProbeCalibration.two_point(raw_dry=10, true_dry=15, raw_wet=40, true_wet=35)
    assert cal.scale == pytest.approx(20 / 30)
    assert cal.offset == pytest.approx(15 - 10 * 20 / 30)
    assert cal.apply(10) == pytest.approx(15)
    assert cal.apply(40) == pytest.approx(35)
    assert cal.apply(25) == pytest.approx(25)
    assert ProbeCalibration(offset=-3.0).apply(30) == pytest.approx(27)


def test_probe_calibration_rejects_impossible_samples() -> None:
    with pytest.raises(CalibrationError, match="retake"):
        ProbeCalibration.two_point(raw_dry=40, true_dry=15, raw_wet=10, true_wet=35)
    with pytest.raises(CalibrationError):
        ProbeCalibration(scale=0.0)
