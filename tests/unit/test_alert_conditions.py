"""The evaluator's decisions: duration, hysteresis, clear hold, rate of change, bad quality."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from alerts.conditions import RuleSpec, Step, Track, observe
from registry.alerting import RuleKind
from storage.queries import Point

MIN = 60_000
DRY = RuleSpec(RuleKind.BELOW, threshold=18.0, clear_threshold=22.0, window_ms=None)


def run(
    spec: RuleSpec,
    values: list[float],
    *,
    duration_min: int,
    hold_min: int = 0,
    every_min: int = 5,
    track: Track | None = None,
    start_ms: int = 0,
    quality: str = "good",
) -> tuple[list[Step], Track]:
    track = track or Track()
    points = [Point(start_ms + i * every_min * MIN, v, quality) for i, v in enumerate(values)]
    steps = [
        track.step(
            o.time_ms,
            condition=o.condition,
            clear=o.clear,
            duration_ms=duration_min * MIN,
            clear_hold_ms=hold_min * MIN,
        )
        for o in observe(spec, points, 0)
    ]
    return steps, track


def test_opens_only_after_the_condition_held_for_the_duration() -> None:
    steps, _ = run(DRY, [15] * 6, duration_min=30)  # 0..25 min: not yet
    assert Step.OPEN not in steps
    steps, _ = run(DRY, [15] * 7, duration_min=30)  # the 30th minute
    assert steps.count(Step.OPEN) == 1 and steps[-1] is Step.OPEN


def test_one_reading_outside_the_condition_restarts_the_wait() -> None:
    steps, _ = run(DRY, [15, 15, 15, 19, 15, 15, 15, 15, 15], duration_min=20)
    # Counted from the reading after the break (20 min), not from the first (0 min).
    assert steps.index(Step.OPEN) == 8


def test_flapping_around_the_threshold_opens_once_and_does_not_resolve() -> None:
    values = [15] * 7 + [17.5, 18.5] * 20
    steps, track = run(DRY, values, duration_min=30)
    assert steps.count(Step.OPEN) == 1
    assert Step.RESOLVE not in steps
    assert track.active


def test_resolves_past_the_clear_threshold_after_the_hold() -> None:
    steps, _ = run(DRY, [15] * 7 + [30, 30, 30], duration_min=30, hold_min=10)
    assert steps[-3:] == [Step.NOTHING, Step.NOTHING, Step.RESOLVE]


def test_wavering_at_the_clear_threshold_keeps_the_alert_until_it_holds() -> None:
    steps, _ = run(DRY, [15] * 7 + [23, 21, 23, 21, 23, 23, 23], duration_min=30, hold_min=10)
    assert steps.count(Step.RESOLVE) == 1 and steps[-1] is Step.RESOLVE


def test_state_carried_across_passes_gives_the_same_answer() -> None:
    whole, _ = run(DRY, [15] * 10, duration_min=30)
    first, track = run(DRY, [15] * 4, duration_min=30)
    second, _ = run(
        DRY,
        [15] * 6,
        duration_min=30,
        track=Track(track.active, track.condition_since_ms, track.clear_since_ms),
        start_ms=20 * MIN,
    )
    assert first + second == whole


def test_bad_readings_say_nothing_to_a_threshold_rule() -> None:
    steps, _ = run(DRY, [0.0] * 20, duration_min=0, quality="bad")
    assert steps == []


def test_quality_rule_watches_bad_readings() -> None:
    spec = RuleSpec(RuleKind.QUALITY_BAD, None, None, None)
    steps, _ = run(spec, [0.0] * 3, duration_min=10, quality="bad")
    assert steps == [Step.NOTHING, Step.NOTHING, Step.OPEN]


def test_rate_of_change_per_hour_against_the_window() -> None:
    drop = RuleSpec(RuleKind.RATE, threshold=-5.0, clear_threshold=-2.0, window_ms=60 * MIN)
    points = [Point(i * 10 * MIN, 40 - i * 2.0, "good") for i in range(8)]  # -12 %/h
    observations = observe(drop, points, 0)
    assert observations[0].time_ms == 20 * MIN  # needs a quarter window of history
    assert all(o.condition for o in observations)
    assert round(observations[-1].value, 6) == -12.0
    steady = [Point(i * 10 * MIN, 40.0, "good") for i in range(8)]
    assert all(o.clear and not o.condition for o in observe(drop, steady, 0))


def test_a_fall_rule_ignores_an_equally_fast_rise() -> None:
    drop = RuleSpec(RuleKind.RATE, threshold=-5.0, clear_threshold=-2.0, window_ms=60 * MIN)
    rain = [Point(i * 10 * MIN, 20 + i * 3.0, "good") for i in range(8)]  # +18 %/h
    assert not any(o.condition for o in observe(drop, rain, 0))
    rise = RuleSpec(RuleKind.RATE, threshold=5.0, clear_threshold=2.0, window_ms=60 * MIN)
    assert all(o.condition for o in observe(rise, rain, 0))


def test_above_rule_mirrors_below() -> None:
    wet = RuleSpec(RuleKind.ABOVE, threshold=45.0, clear_threshold=40.0, window_ms=None)
    steps, _ = run(wet, [50, 50, 42, 50, 39], duration_min=5)
    assert steps == [Step.NOTHING, Step.OPEN, Step.NOTHING, Step.NOTHING, Step.RESOLVE]


@given(
    st.lists(st.floats(min_value=0, max_value=60, allow_nan=False), max_size=200),
    st.integers(0, 60),
    st.integers(0, 30),
)
def test_opens_and_resolves_alternate(values: list[float], duration: int, hold: int) -> None:
    steps, track = run(DRY, values, duration_min=duration, hold_min=hold)
    changes = [s for s in steps if s is not Step.NOTHING]
    assert changes == [Step.OPEN, Step.RESOLVE] * (len(changes) // 2) + [Step.OPEN] * (
        len(changes) % 2
    )
    assert track.active == (len(changes) % 2 == 1)


@given(st.lists(st.floats(min_value=17.0, max_value=21.9, allow_nan=False), max_size=200))
def test_values_inside_the_hysteresis_band_never_resolve(values: list[float]) -> None:
    steps, _ = run(DRY, [10.0] * 3 + values, duration_min=0)
    assert steps.count(Step.OPEN) == 1 and Step.RESOLVE not in steps
