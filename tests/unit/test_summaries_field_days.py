"""A field's precomputed days (``field_1d``) give the summary exactly the numbers it read from the
per-series daily rollups before (``storage/summaries.py``'s definitions)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.field_rollups import (
    FieldDay,
    QuantityDay,
    SeriesDay,
    _hours_of,
    _hours_text,
    field_day_lines,
    field_days,
    progress_lines,
)
from storage.summaries import FieldSpec, FieldSummary, Stats, field_summary

DAY_MS = 86_400_000
QUANTITIES = ("soil_moisture", "soil_temperature", "rain", "soil_ph")
DEVICES = (("gw-1", "soil-1"), ("gw-1", "soil-2"), ("gw-2", "iklim-1"))
FIELDS = ("sawah-1", "sawah-2")
THRESHOLD = 22.123456789  # no weighted mean of these values falls on it


def _reference(
    rows: list[SeriesDay], spec: FieldSpec, hours: int
) -> FieldSummary:  # the per-series summary as it was, rows as its two queries returned them
    daily: dict[str, dict[int, list[SeriesDay]]] = defaultdict(dict)
    series_hours: dict[tuple[str, str], list[int]] = {}
    sums: dict[tuple[str, str, str], int] = defaultdict(int)
    for r in rows:
        if r.field_id != spec.field_id:
            continue
        if r.quantity in QUANTITIES[:3] and r.count:
            daily[r.quantity].setdefault(r.day_ms, []).append(r)
        if r.hours is not None:
            sums[(r.gateway_id, r.device_id, r.quantity)] += r.hours
    for (gateway, device, _), h in sums.items():
        series_hours.setdefault((gateway, device), []).append(h)

    def stats(days: dict[int, list[SeriesDay]] | None) -> Stats | None:
        if not days:
            return None
        found = [r for day in days.values() for r in day]
        count = sum(r.count or 0 for r in found)
        return Stats(
            mean=sum((r.mean or 0) * (r.count or 0) for r in found) / count,
            min=min(r.min or 0 for r in found),
            max=max(r.max or 0 for r in found),
            count=count,
        )

    moisture = daily.get("soil_moisture")
    means = [
        sum((r.mean or 0) * (r.count or 0) for r in day) / sum(r.count or 0 for r in day)
        for day in (moisture or {}).values()
    ]
    rain = daily.get("rain")
    rainfall = None
    if rain:
        rainfall = 0.0
        for day in rain.values():
            found = [r.sum for r in day if r.sum is not None]
            if found:
                rainfall += sum(found) / len(found)
    devices = set(spec.devices) | set(series_hours)
    up = [min(max(series_hours.get(d, [0])), hours) for d in devices]
    series = [min(h, hours) for per_device in series_hours.values() for h in per_device]
    return FieldSummary(
        field_id=spec.field_id,
        rainfall_mm=rainfall,
        soil_moisture=stats(moisture),
        soil_temperature=stats(daily.get("soil_temperature")),
        dry_threshold=spec.dry_threshold,
        dry_days=sum(m < spec.dry_threshold for m in means),
        days_with_moisture=len(means),
        hours_expected=hours,
        completeness=sum(series) / (len(series) * hours) if series and hours else None,
        uptime=sum(up) / (len(up) * hours) if up and hours else None,
    )


@st.composite
def _rows(draw: st.DrawFn) -> list[SeriesDay]:
    rows = []
    for field_id in FIELDS:
        for gateway, device in DEVICES:
            for quantity in QUANTITIES:
                for day in range(4):
                    if not draw(st.booleans()):
                        continue
                    count = draw(st.sampled_from([None, 0, 1, 4, 96]))
                    low = draw(st.integers(0, 80)) / 2
                    high = low + draw(st.integers(0, 40)) / 2
                    mean = (low + high) / 2
                    rows.append(
                        SeriesDay(
                            "desa-1",
                            field_id,
                            gateway,
                            device,
                            quantity,
                            1_790_000_000_000 + day * DAY_MS,
                            mean=mean if count else None,
                            min=low if count else None,
                            max=high if count else None,
                            count=count,
                            sum=mean * count if count and quantity == "rain" else None,
                            hours=draw(st.sampled_from([None, 1, 12, 24])),
                        )
                    )
    return rows


def _close(a: float | None, b: float | None) -> bool:
    return a == b if a is None or b is None else a == pytest.approx(b, rel=1e-12)


def _same(mine: FieldSummary, theirs: FieldSummary) -> None:
    assert _close(mine.rainfall_mm, theirs.rainfall_mm)
    for name in ("soil_moisture", "soil_temperature"):
        a, b = getattr(mine, name), getattr(theirs, name)
        assert (a is None) == (b is None), name
        if a is not None and b is not None:
            assert (a.min, a.max, a.count) == (b.min, b.max, b.count)
            assert _close(a.mean, b.mean)
    assert (mine.dry_days, mine.days_with_moisture, mine.hours_expected) == (
        theirs.dry_days,
        theirs.days_with_moisture,
        theirs.hours_expected,
    )
    assert _close(mine.completeness, theirs.completeness)
    assert _close(mine.uptime, theirs.uptime)


@settings(max_examples=300, deadline=None)
@given(rows=_rows(), hours=st.sampled_from([0, 10, 96]), placed=st.booleans())
def test_field_days_give_the_per_series_numbers(
    rows: list[SeriesDay], hours: int, placed: bool
) -> None:
    # A placed device that never sent counts 0 uptime: both ways.
    devices = (("gw-9", "never"),) if placed else ()
    days = field_days(rows)
    for field_id in FIELDS:
        spec = FieldSpec(field_id, THRESHOLD, devices)
        mine = field_summary(spec, [d for d in days if d.field_id == field_id], hours)
        _same(mine, _reference(rows, spec, hours))


@given(rows=_rows())
def test_series_hours_text_reads_back(rows: list[SeriesDay]) -> None:
    for day in field_days(rows):
        assert _hours_of(_hours_text(day.series_hours)) == day.series_hours


def test_a_field_day_as_line_protocol() -> None:
    day = FieldDay(
        "desa-1",
        "sawah 1",
        1_790_000_000_000,
        2.5,
        {"soil_moisture": QuantityDay(total=60.5, count=2, min=30.0, max=30.5)},
        ((("gw-1", "iklim-1", "rain"), 24), (("gw-1", "soil-1", "soil_moisture"), 23)),
    )
    assert field_day_lines([day]) == [
        "field_1d,field_id=sawah\\ 1,village_id=desa-1 rain_mm=2.5,"
        'series_hours="gw-1/iklim-1/24=rain gw-1/soil-1/23=soil_moisture",'
        "soil_moisture_count=2i,soil_moisture_max=30.5,soil_moisture_min=30.0,"
        "soil_moisture_sum=60.5 1790000000000"
    ]
    assert progress_lines([1_790_000_000_000], 1_790_086_400_000) == [
        "field_1d_progress until_ms=1790086400000i 1790000000000"
    ]


def test_a_device_whose_quantities_share_their_hours_is_one_entry() -> None:
    hours = tuple(
        (("gw-1", "soil-1", q), 24) for q in ("soil_moisture", "soil_ph", "soil_temperature")
    )
    assert _hours_text(hours) == "gw-1/soil-1/24=soil_moisture,soil_ph,soil_temperature"


def test_rows_without_a_field_make_no_field_day() -> None:
    row: dict[str, Any] = dict(
        gateway_id="gw-1",
        device_id="wx",
        quantity="rain",
        day_ms=0,
        mean=1.0,
        min=1.0,
        max=1.0,
        count=1,
        sum=1.0,
        hours=1,
    )
    assert field_days([SeriesDay("", "", **row), SeriesDay("desa-1", "", **row)]) == []
    [day] = field_days([SeriesDay("desa-1", "f", **row)])
    assert (day.rain_mm, day.series_hours) == (1.0, ((("gw-1", "wx", "rain"), 1),))
