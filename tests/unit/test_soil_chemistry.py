"""Soil chemistry against the crop: pH classes, lime, N/P/K classes, and withheld advice."""

from __future__ import annotations

import itertools
import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agronomy.crops import CROPS
from agronomy.soil_chemistry import (
    CROP_PH_RANGES,
    MAX_AGE_S,
    NUTRIENT_TABLES,
    PH_CLASSES,
    InvalidAreaError,
    ProbeValue,
    RangePosition,
    Reason,
    UnknownCropError,
    UnknownNutrientError,
    assess_soil,
    classify_nutrient,
    classify_ph,
    k_to_k2o,
    lime_advice,
    p_to_p2o5,
)
from telemetry.reading import Quality, Reading

NOW_MS = 1_760_000_000_000


def good(value: float, age_s: float = 60) -> ProbeValue:
    return ProbeValue(value, Quality.GOOD, NOW_MS - int(age_s * 1000))


def probe(ph: float | None = None, **nutrients: float) -> dict[str, ProbeValue]:
    readings = {f"soil_{key}": good(value) for key, value in nutrients.items()}
    if ph is not None:
        readings["soil_ph"] = good(ph)
    return readings


# --- pH classes (Balai Penelitian Tanah 2009) -------------------------------------------------


@pytest.mark.parametrize(
    ("ph", "key"),
    [
        (3.0, "very_acid"),
        (4.4, "very_acid"),
        (4.44, "very_acid"),
        (4.45, "acid"),  # rounds to 4.5, as a lab would report it
        (4.5, "acid"),
        (5.5, "acid"),
        (5.54, "acid"),
        (5.55, "slightly_acid"),
        (5.6, "slightly_acid"),
        (6.5, "slightly_acid"),
        (6.6, "neutral"),
        (7.5, "neutral"),
        (7.6, "slightly_alkaline"),
        (8.5, "slightly_alkaline"),
        (8.6, "alkaline"),
        (10.0, "alkaline"),
    ],
)
def test_ph_class_edges(ph: float, key: str) -> None:
    assert classify_ph(ph).key == key


def test_ph_classes_are_contiguous_and_named_in_both_languages() -> None:
    assert PH_CLASSES[0].low is None and PH_CLASSES[-1].high is None
    for lower, upper in itertools.pairwise(PH_CLASSES):
        assert lower.high == upper.low
    names = [(c.name_id, c.name_en) for c in PH_CLASSES]
    assert names[0] == ("Sangat masam", "Very acid")
    assert names[3] == ("Netral", "Neutral")
    assert names[-1] == ("Alkalis", "Alkaline")


@given(st.floats(min_value=3.0, max_value=10.0, allow_nan=False))
def test_every_ph_from_3_to_10_has_exactly_one_class(ph: float) -> None:
    matching = [c for c in PH_CLASSES if c.contains(ph)]
    assert len(matching) == 1
    assert classify_ph(ph) is matching[0]


def test_ph_not_a_number_is_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        classify_ph(math.nan)


# --- crop ranges and lime ---------------------------------------------------------------------


def test_maize_at_ph_5_is_limed_with_a_dose_for_the_field() -> None:
    advice = assess_soil("jagung", probe(ph=5.0), area_m2=2500, now_ms=NOW_MS)
    assert advice.ph_class is not None and advice.ph_class.key == "acid"
    assert advice.ph_position is RangePosition.BELOW
    assert advice.in_crop_range is False
    lime = advice.lime
    assert lime is not None
    assert lime.target_ph == 5.8
    assert lime.dose_t_ha == pytest.approx(1.6)  # 2 t/ha per pH unit x (5.8 - 5.0)
    assert lime.dose_kg_field == 400  # 1.6 t/ha on 0.25 ha
    assert lime.steps == 1
    assert lime.material.id == "Kapur dolomit"
    assert any("Al-dd" in text.id for text in lime.limits)
    assert "soil_ph" not in advice.withheld


def test_maize_at_ph_6_5_gets_no_lime() -> None:
    advice = assess_soil("jagung", probe(ph=6.5), area_m2=2500, now_ms=NOW_MS)
    assert advice.ph_class is not None and advice.ph_class.key == "slightly_acid"
    assert advice.in_crop_range is True
    assert advice.lime is None


def test_no_lime_above_the_crop_range() -> None:
    advice = assess_soil("kopi", probe(ph=6.8), area_m2=1000, now_ms=NOW_MS)
    assert advice.ph_position is RangePosition.ABOVE
    assert advice.in_crop_range is False
    assert advice.lime is None


@pytest.mark.parametrize(
    ("ph", "position"),
    [
        (5.4, RangePosition.BELOW),
        (5.45, RangePosition.WITHIN),
        (5.5, RangePosition.WITHIN),
        (7.0, RangePosition.WITHIN),
        (7.04, RangePosition.WITHIN),
        (7.1, RangePosition.ABOVE),
    ],
)
def test_rice_range(ph: float, position: RangePosition) -> None:
    rice = CROP_PH_RANGES["padi"]
    assert (rice.low, rice.high) == (5.5, 7.0)
    assert rice.position(ph) is position


def test_rice_lime_says_flooding_changes_the_reading() -> None:
    lime = lime_advice("padi", 5.0, 10_000)
    assert lime is not None
    assert lime.dose_t_ha == pytest.approx(1.0)
    assert lime.dose_kg_field == 1000
    assert any("Ponnamperuma" in text.en for text in lime.limits)


@given(
    st.sampled_from(sorted(CROP_PH_RANGES)),
    st.floats(min_value=3.0, max_value=10.0, allow_nan=False),
)
def test_lime_only_below_the_range(crop_id: str, ph: float) -> None:
    crop = CROP_PH_RANGES[crop_id]
    lime = lime_advice(crop_id, ph, 2500)
    if crop.position(ph) is RangePosition.BELOW:
        assert lime is not None and lime.dose_t_ha > 0 and lime.dose_kg_field is not None
    else:
        assert lime is None


def test_very_acid_soil_is_limed_in_steps() -> None:
    lime = lime_advice("jagung", 3.5, 2500)
    assert lime is not None
    assert lime.dose_t_ha == pytest.approx(4.6)
    assert lime.dose_kg_field == 1150
    assert lime.steps == 3  # at most 2 t/ha a step


def test_lime_without_an_area_is_per_hectare_only() -> None:
    lime = lime_advice("jagung", 5.0, None)
    assert lime is not None
    assert lime.dose_t_ha == pytest.approx(1.6)
    assert lime.dose_kg_field is None


@pytest.mark.parametrize("area", [0, -10, math.nan, math.inf])
def test_a_bad_area_is_refused_with_a_fix(area: float) -> None:
    with pytest.raises(InvalidAreaError, match="registry"):
        assess_soil("jagung", probe(ph=5.0), area_m2=area, now_ms=NOW_MS)


def test_every_crop_of_the_catalogue_has_a_cited_range() -> None:
    assert set(CROP_PH_RANGES) == set(CROPS)
    for crop in CROP_PH_RANGES.values():
        assert 3.0 < crop.low < crop.high < 9.0
        assert crop.source.citation and crop.source.checked


def test_unknown_crop_names_the_known_ones() -> None:
    with pytest.raises(UnknownCropError, match="known crops: padi, jagung"):
        assess_soil("tebu", probe(ph=5.0), area_m2=None, now_ms=NOW_MS)


# --- N/P/K classes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "edges"),
    [
        ("soil_phosphorus", [(9, "very_low"), (10, "low"), (15, "low"), (16, "medium")]),
        ("soil_phosphorus", [(25, "medium"), (26, "high"), (35, "high"), (36, "very_high")]),
        ("soil_nitrogen", [(139, "very_low"), (140, "low"), (420, "low"), (421, "medium")]),
        ("soil_nitrogen", [(560, "medium"), (561, "high"), (700, "high"), (701, "very_high")]),
        ("soil_potassium", [(119, "very_low"), (120, "low"), (240, "low"), (241, "medium")]),
        ("soil_potassium", [(300, "medium"), (301, "high"), (360, "high"), (361, "very_high")]),
    ],
)
def test_nutrient_class_edges_in_the_table_unit(
    quantity: str, edges: list[tuple[int, str]]
) -> None:
    table = NUTRIENT_TABLES[quantity]
    for value, key in edges:
        assert table.classify(Decimal(value)).key == key, value


@pytest.mark.parametrize(
    ("quantity", "mg_kg", "table_value", "key"),
    [
        ("soil_phosphorus", 6.7, 15, "low"),  # 15.35 ppm P2O5
        ("soil_phosphorus", 7.0, 16, "medium"),  # 16.04 ppm P2O5
        ("soil_nitrogen", 62.0, 139, "very_low"),  # 138.9 kg N/ha
        ("soil_nitrogen", 62.5, 140, "low"),  # 140.0 kg N/ha
        ("soil_potassium", 100.0, 270, "medium"),  # 120.46 mg K2O/kg x 2.24
        ("soil_potassium", 0.0, 0, "very_low"),
    ],
)
def test_probe_mg_kg_is_put_into_the_table_unit(
    quantity: str, mg_kg: float, table_value: int, key: str
) -> None:
    assessment = classify_nutrient(quantity, mg_kg)
    assert assessment.table_value == table_value
    assert assessment.nutrient_class.key == key
    assert assessment.table.source.citation


def test_nutrient_assessment_carries_the_probe_caveat() -> None:
    assessment = classify_nutrient("soil_nitrogen", 40)
    assert "indicative only" in assessment.caveat.en
    assert "perkiraan" in assessment.caveat.id
    assert "myduino" in assessment.caveat_source.citation


def test_oxide_conversions() -> None:
    assert p_to_p2o5(1.0) == pytest.approx(2.2913, abs=1e-4)
    assert p_to_p2o5(10.0) == pytest.approx(22.9, abs=0.05)
    assert k_to_k2o(1.0) == pytest.approx(1.2046, abs=1e-4)
    assert k_to_k2o(100.0) == pytest.approx(120.46, abs=0.01)


def test_unknown_nutrient_and_negative_values_are_refused() -> None:
    with pytest.raises(UnknownNutrientError, match="soil_nitrogen"):
        classify_nutrient("soil_ec", 100)
    with pytest.raises(ValueError, match="finite"):
        classify_nutrient("soil_phosphorus", -1)


# --- withheld advice --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reading", "reason"),
    [
        (ProbeValue(5.0, Quality.SUSPECT, NOW_MS), Reason.QUALITY_SUSPECT),
        (ProbeValue(5.0, Quality.BAD, NOW_MS), Reason.QUALITY_BAD),
        (ProbeValue(12.0, Quality.GOOD, NOW_MS), Reason.QUALITY_BAD),  # outside physical range
        (ProbeValue(math.nan, Quality.GOOD, NOW_MS), Reason.QUALITY_BAD),
        (good(5.0, age_s=MAX_AGE_S + 1), Reason.STALE),
        (ProbeValue(5.0, Quality.GOOD, NOW_MS, time_trusted=False), Reason.STALE),
        (None, Reason.NO_READING),
    ],
)
def test_ph_advice_is_withheld_with_a_reason(reading: ProbeValue | None, reason: Reason) -> None:
    readings = {} if reading is None else {"soil_ph": reading}
    advice = assess_soil("jagung", readings, area_m2=2500, now_ms=NOW_MS)
    assert advice.withheld["soil_ph"] is reason
    assert advice.ph is None and advice.ph_class is None and advice.in_crop_range is None
    assert advice.lime is None


def test_a_reading_exactly_max_age_old_is_still_used() -> None:
    advice = assess_soil("jagung", {"soil_ph": good(5.0, MAX_AGE_S)}, None, NOW_MS)
    assert "soil_ph" not in advice.withheld
    assert advice.lime is not None


def test_nutrients_are_withheld_one_by_one() -> None:
    readings = probe(ph=6.0, nitrogen=40, phosphorus=8)
    readings["soil_phosphorus"] = ProbeValue(8, Quality.SUSPECT, NOW_MS)
    advice = assess_soil("kedelai", readings, area_m2=None, now_ms=NOW_MS)
    assert set(advice.nutrients) == {"soil_nitrogen"}
    assert advice.withheld == {
        "soil_phosphorus": Reason.QUALITY_SUSPECT,
        "soil_potassium": Reason.NO_READING,
    }
    assert advice.ph_class is not None and advice.in_crop_range is True


def test_reasons_are_stable_strings_a_page_can_explain() -> None:
    assert {r.value for r in Reason} == {"quality_bad", "quality_suspect", "no_reading", "stale"}


def test_probe_value_from_a_telemetry_reading() -> None:
    reading = Reading("gw-1", "soil-1", "soil_ph", 5.2, "pH", NOW_MS, Quality.GOOD, 7, False)
    assert ProbeValue.from_reading(reading) == ProbeValue(5.2, Quality.GOOD, NOW_MS, False)
