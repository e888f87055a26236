"""How a history range is read: raw, hourly or daily, and how long a step is (pure planning)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.village_summary import period_bounds
from storage.history import (
    DAY_MS,
    HOUR_MS,
    MAX_POINTS,
    MIN_POINTS,
    MINUTE_MS,
    HistoryPlan,
    RangeError,
    Source,
    merge_rollup_rows,
    plan_history,
)

START = 1_763_830_800_000  # 2025-11-23 00:00 WIB, a local midnight
TWO_YEARS_MS = 731 * DAY_MS


@given(
    start=st.integers(min_value=0, max_value=4_000_000_000_000),
    length=st.integers(min_value=1, max_value=TWO_YEARS_MS),
    points=st.integers(min_value=MIN_POINTS, max_value=MAX_POINTS),
    utc_offset_h=st.sampled_from([7, 8, 9, 0, -5]),
)
def test_a_plan_never_answers_more_than_the_points_asked(
    start: int, length: int, points: int, utc_offset_h: int
) -> None:
    plan = plan_history(start, start + length, points, utc_offset_h)
    # Count the steps the readings of every millisecond of the range would land in.
    first, last = plan.bucket(start), plan.bucket(start + length - 1)
    assert (last - first) // plan.step_ms + 1 <= points
    assert plan.buckets(start, start + length) <= points
    # The store read is never finer than the step: no more rows read than needed.
    grain = {Source.RAW: 1, Source.HOURLY: HOUR_MS, Source.DAILY: DAY_MS}[plan.source]
    assert plan.step_ms % grain == 0


@given(
    start=st.integers(min_value=0, max_value=4_000_000_000_000),
    length=st.integers(min_value=2 * DAY_MS, max_value=TWO_YEARS_MS),
    points=st.integers(min_value=MIN_POINTS, max_value=MAX_POINTS),
)
def test_a_plan_takes_the_finest_step_that_fits(start: int, length: int, points: int) -> None:
    plan = plan_history(start, start + length, points)
    finer = [HistoryPlan(Source.RAW, m * MINUTE_MS, 0) for m in (1, 2, 5, 10, 15, 20, 30)] + [
        HistoryPlan(Source.HOURLY, h * HOUR_MS, 17 * HOUR_MS % (h * HOUR_MS)) for h in (1, 2)
    ]
    for other in finer:
        if other.step_ms < plan.step_ms:
            assert other.buckets(start, start + length) > points


@pytest.mark.parametrize(
    ("length", "points", "source", "step_ms"),
    [
        (24 * HOUR_MS, 500, Source.RAW, 5 * MINUTE_MS),  # 288 steps
        (7 * DAY_MS, 500, Source.RAW, 30 * MINUTE_MS),  # 336 steps (20 minutes: 504)
        (30 * DAY_MS, 500, Source.HOURLY, 2 * HOUR_MS),
        (90 * DAY_MS, 500, Source.HOURLY, 6 * HOUR_MS),
        (90 * DAY_MS, 50, Source.DAILY, 2 * DAY_MS),
        (365 * DAY_MS, 500, Source.DAILY, DAY_MS),
        (730 * DAY_MS, 500, Source.DAILY, 2 * DAY_MS),
        (730 * DAY_MS, MIN_POINTS, Source.DAILY, 91 * DAY_MS),
        (HOUR_MS, MAX_POINTS, Source.RAW, MINUTE_MS),
    ],
)
def test_typical_ranges(length: int, points: int, source: Source, step_ms: int) -> None:
    plan = plan_history(START, START + length, points)
    assert (plan.source, plan.step_ms) == (source, step_ms)


def test_rollup_steps_start_at_local_midnight() -> None:
    plan = plan_history(START, START + 90 * DAY_MS, 50, utc_offset_h=7)
    assert plan.bucket(START + 5 * HOUR_MS) == START  # 05:00 WIB is in the step of 00:00 WIB
    wita = plan_history(START, START + 90 * DAY_MS, 50, utc_offset_h=8)
    assert wita.bucket(START) == START - HOUR_MS  # midnight WITA is an hour before WIB's


@pytest.mark.parametrize(
    ("start", "end", "points", "message"),
    [
        (START, START, 500, "end must be after start"),
        (START, START - 1, 500, "end must be after start"),
        (START, START + DAY_MS, MIN_POINTS - 1, "points must be"),
        (START, START + DAY_MS, MAX_POINTS + 1, "points must be"),
        (START, START + 100 * 365 * DAY_MS, MIN_POINTS, "range too long"),
    ],
)
def test_impossible_ranges_are_refused(start: int, end: int, points: int, message: str) -> None:
    with pytest.raises(RangeError, match=message):
        plan_history(start, end, points)


def test_rollup_rows_of_several_probes_merge_weighted_by_count() -> None:
    plan = HistoryPlan(Source.HOURLY, 2 * HOUR_MS, 0)
    rows = [
        {"time": 0, "mean": 10.0, "min": 8.0, "max": 12.0, "count": 3, "sum": None},
        {"time": HOUR_MS, "mean": 20.0, "min": 19.0, "max": 25.0, "count": 1, "sum": None},
        {"time": 2 * HOUR_MS, "mean": 30.0, "min": 30.0, "max": 30.0, "count": 2},
        {"time": 3 * HOUR_MS, "mean": None, "min": None, "max": None, "count": 0},
    ]
    first, second = merge_rollup_rows(rows, plan)
    assert (first.time_ms, first.mean, first.min, first.max, first.count) == (
        0,
        12.5,
        8.0,
        25.0,
        4,
    )
    assert first.sum is None
    assert (second.time_ms, second.mean, second.count) == (2 * HOUR_MS, 30.0, 2)


def test_rain_sums_add_up_across_steps() -> None:
    plan = HistoryPlan(Source.DAILY, 2 * DAY_MS, 0)
    rows = [
        {"time": 0, "mean": 0.5, "min": 0.0, "max": 1.0, "count": 4, "sum": 2.0},
        {"time": DAY_MS, "mean": 0.25, "min": 0.0, "max": 0.5, "count": 4, "sum": 1.0},
    ]
    (point,) = merge_rollup_rows(rows, plan)
    assert point.sum == 3.0 and point.count == 8


@pytest.mark.parametrize(
    ("period", "day", "first", "after"),
    [
        ("week", date(2026, 11, 23), date(2026, 11, 23), date(2026, 11, 30)),  # a Monday
        ("week", date(2026, 11, 29), date(2026, 11, 23), date(2026, 11, 30)),  # its Sunday
        ("week", date(2026, 12, 31), date(2026, 12, 28), date(2027, 1, 4)),
        ("month", date(2026, 12, 31), date(2026, 12, 1), date(2027, 1, 1)),
        ("month", date(2028, 2, 10), date(2028, 2, 1), date(2028, 3, 1)),
    ],
)
def test_a_summary_period_is_the_week_or_month_holding_the_day(
    period: str, day: date, first: date, after: date
) -> None:
    assert period_bounds(period, day) == (first, after)
