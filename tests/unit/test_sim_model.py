"""The field model: physical ranges, plausible Lampung weather, rain wetting the soil."""

from __future__ import annotations

import itertools
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_sim import quantities as q
from firmware_sim.model import DAY_S, LOCAL_UTC_OFFSET_S, FieldModel, FieldSample, ModelConfig

# 2023-11-14 22:13:20 UTC: the wet season in Lampung.
ORIGIN = 1_700_000_000.0
HOUR = 3600.0


def _model(seed: int = 1, **kwargs: float) -> FieldModel:
    return FieldModel(ModelConfig(seed=seed, origin_unix_s=ORIGIN, **kwargs))


def _local_hour(t: float) -> float:
    return ((t + LOCAL_UTC_OFFSET_S) % DAY_S) / HOUR


def _month(model: FieldModel, step_s: float = HOUR) -> list[FieldSample]:
    return [model.sample(ORIGIN + i * step_s) for i in range(int(30 * DAY_S / step_s))]


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), spot=st.integers(1, 247))
def test_a_month_stays_in_physical_and_plausible_ranges(seed: int, spot: int) -> None:
    model = _model(seed)
    samples = [model.sample(ORIGIN + i * HOUR, spot) for i in range(30 * 24)]
    for sample in samples:
        for key, value in sample.quantities().items():
            quantity = q.SIM_QUANTITIES[key]
            assert quantity.physical_min <= value <= quantity.physical_max, (key, value)
        assert 17 <= sample.air_temperature <= 36
        assert 1005 <= sample.air_pressure <= 1015
        assert sample.solar_radiation <= 1000
        assert 5.3 <= sample.soil_ph <= 6.7
        assert 10 <= sample.soil_moisture <= 60
        assert sample.wind_direction < 360
        if not 6 <= _local_hour(sample.sim_time) <= 19:
            assert sample.solar_radiation == 0
    totals = [s.rain_total_mm for s in samples]
    assert totals == sorted(totals)
    assert 100 <= totals[-1] <= 900  # a wet-season month, a few showers a day


def test_same_seed_same_field_whatever_the_order_of_questions() -> None:
    times = [ORIGIN + 5 * DAY_S, ORIGIN + HOUR, ORIGIN + 2.5 * DAY_S + 17]
    forwards = _model(7)
    backwards = _model(7)
    assert [forwards.sample(t) for t in times] == [backwards.sample(t) for t in reversed(times)][
        ::-1
    ]
    assert _model(8).sample(times[0]) != forwards.sample(times[0])


def test_diurnal_cycle_dawn_cool_afternoon_warm_and_humidity_opposite() -> None:
    samples = _month(_model(3), step_s=HOUR / 2)
    dawn = [s.air_temperature for s in samples if 5 <= _local_hour(s.sim_time) < 7]
    afternoon = [s.air_temperature for s in samples if 13.5 <= _local_hour(s.sim_time) < 15.5]
    assert 21.5 <= statistics.mean(dawn) <= 24.5
    assert 29.5 <= statistics.mean(afternoon) <= 33
    temperature = [s.air_temperature for s in samples]
    humidity = [s.air_humidity for s in samples]
    assert statistics.correlation(temperature, humidity) < -0.7
    assert 60 <= statistics.mean(humidity) <= 95
    noon = [s.solar_radiation for s in samples if 11.5 <= _local_hour(s.sim_time) < 12.5]
    assert 400 <= max(noon) <= 950


def test_soil_temperature_lags_and_is_damped() -> None:
    samples = _month(_model(4), step_s=HOUR / 2)
    air = [s.air_temperature for s in samples]
    soil = [s.soil_temperature for s in samples]
    assert statistics.pstdev(soil) < 0.5 * statistics.pstdev(air)
    # The warmest soil comes hours after the warmest air.
    by_hour: dict[int, list[float]] = {}
    for s in samples:
        by_hour.setdefault(int(_local_hour(s.sim_time)), []).append(s.soil_temperature)
    warmest_soil_hour = max(by_hour, key=lambda h: statistics.mean(by_hour[h]))
    assert 16 <= warmest_soil_hour <= 19


def test_ec_rises_with_moisture() -> None:
    samples = _month(_model(5))
    moisture = [s.soil_moisture for s in samples]
    ec = [s.soil_ec for s in samples]
    assert statistics.correlation(moisture, ec) > 0.8


def test_rain_event_wets_the_soil_which_then_dries() -> None:
    model = _model(11)
    events = model.rain_events(ORIGIN, ORIGIN + 30 * DAY_S)
    # A real shower followed by six dry hours.
    event = next(
        e
        for e in events
        if e.depth_between(e.start, e.end) >= 3
        and not model.rain_events(e.end, e.end + 6 * HOUR)
        and e.start > ORIGIN
    )
    before = model.sample(event.start - 1).soil_moisture
    after = model.sample(event.end).soil_moisture
    assert after > before + 0.5
    during = model.sample((event.start + event.end) / 2)
    assert during.rain_rate_mm_h == pytest.approx(event.intensity_mm_h)
    assert during.air_humidity >= 92
    drying = [model.sample(event.end + i * HOUR / 2).soil_moisture for i in range(13)]
    assert all(a > b for a, b in itertools.pairwise(drying))
    rain = model.sample(event.end).rain_total_mm - model.sample(event.start).rain_total_mm
    assert rain == pytest.approx(event.depth_between(event.start, event.end))


def test_rain_total_is_the_sum_of_showers_since_origin() -> None:
    model = _model(2)
    end = ORIGIN + 10 * DAY_S
    expected = sum(e.depth_between(ORIGIN, end) for e in model.rain_events(ORIGIN, end))
    assert model.sample(end).rain_total_mm == pytest.approx(expected)
    assert model.sample(ORIGIN).rain_total_mm == 0


def test_time_scale_runs_simulated_time_faster() -> None:
    model = _model(time_scale=60.0)
    assert model.sim_time(ORIGIN) == ORIGIN
    assert model.sim_time(ORIGIN + 10) == ORIGIN + 600


def test_spots_differ_in_soil_but_share_the_weather() -> None:
    model = _model()
    t = ORIGIN + 3 * DAY_S
    one, two = model.sample(t, spot=1), model.sample(t, spot=2)
    assert one.soil_moisture != two.soil_moisture
    assert one.air_temperature == two.air_temperature
    assert model.sample(t, spot=1) == one


def test_before_the_model_start_is_refused() -> None:
    with pytest.raises(ValueError):
        _model().sample(ORIGIN - 10 * DAY_S)


def test_bad_config_is_refused() -> None:
    with pytest.raises(ValueError):
        ModelConfig(time_scale=0)


def test_catalogue_agrees_with_telemetry() -> None:
    telemetry = pytest.importorskip("telemetry.quantities")
    for key, ours in q.SIM_QUANTITIES.items():
        theirs = telemetry.quantity(key)
        assert (theirs.unit, theirs.physical_min, theirs.physical_max) == (
            ours.unit,
            ours.physical_min,
            ours.physical_max,
        )
