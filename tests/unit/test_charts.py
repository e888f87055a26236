"""Server-side SVG charts: valid, small, accessible, honest about gaps, for any series."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

from hypothesis import given, settings
from hypothesis import strategies as st

from api.charts import Chart, Threshold, svg_line_chart

SVG = "{http://www.w3.org/2000/svg}"
T0 = 1_760_000_000_000  # 2025-10-09 08:53 UTC
MINUTE = 60_000


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def _chart(points: list[tuple[int, float]], **extra: object) -> Chart:
    words = {"title": "Kelembapan <tanah>", "description": "24 jam & terakhir"}
    return Chart(points=points, **words, **extra)  # type: ignore[arg-type]


def test_a_day_of_readings_is_valid_accessible_svg() -> None:
    points = [(T0 + i * 15 * MINUTE, 20 + 5 * math.sin(i / 10)) for i in range(96)]
    svg = svg_line_chart(
        _chart(points, threshold=Threshold(15, "batas kering"), unit="%"), chart_id="m24"
    )
    root = _parse(svg)
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "m24-t m24-d"
    assert root.find(f"{SVG}title").text == "Kelembapan <tanah>"  # escaped, then read back
    assert root.find(f"{SVG}desc").text == "24 jam & terakhir"
    assert len(root.findall(f"{SVG}polyline")) == 1
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert "batas kering" in labels
    assert "%" in labels


def test_time_labels_are_local_hours_for_a_day_and_dates_for_a_week() -> None:
    day = [(T0 + i * 15 * MINUTE, 20.0) for i in range(96)]
    hours = [t.text for t in _parse(svg_line_chart(_chart(day), utc_offset_h=7)).iter(f"{SVG}text")]
    # T0 is 15:53 WIB; ticks fall on local hours divisible by the step.
    assert any(label and label.endswith(":00") for label in hours)
    assert "18:00" in hours  # 11:00 UTC + 7
    week = [(T0 + i * 60 * MINUTE, 20.0) for i in range(7 * 24)]
    dates = [t.text for t in _parse(svg_line_chart(_chart(week))).iter(f"{SVG}text")]
    assert "11/10" in dates  # local midnights (every other day), day/month


def test_band_and_threshold_are_drawn() -> None:
    band = [(T0 + i * 3_600_000, 10.0 + i, 14.0 + i) for i in range(24)]
    points = [(t, (lo + hi) / 2) for t, lo, hi in band]
    root = _parse(svg_line_chart(_chart(points, band=band, threshold=Threshold(18, "kering"))))
    assert len(root.findall(f"{SVG}polygon")) == 1
    dashed = [line for line in root.iter(f"{SVG}line") if line.get("stroke-dasharray")]
    assert len(dashed) == 1


def test_empty_series_says_no_data() -> None:
    root = _parse(svg_line_chart(_chart([], no_data="Belum ada data")))
    assert [t.text for t in root.iter(f"{SVG}text")] == ["Belum ada data"]


def test_one_point_is_a_dot() -> None:
    root = _parse(svg_line_chart(_chart([(T0, 22.5)])))
    assert len(root.findall(f"{SVG}circle")) == 1
    assert not root.findall(f"{SVG}polyline")


def test_a_gap_in_the_readings_breaks_the_line() -> None:
    before = [(T0 + i * 15 * MINUTE, 20.0) for i in range(20)]
    after = [(T0 + (i + 40) * 15 * MINUTE, 25.0) for i in range(20)]
    root = _parse(svg_line_chart(_chart(before + after)))
    assert len(root.findall(f"{SVG}polyline")) == 2


def test_a_fixed_range_keeps_empty_hours_empty() -> None:
    points = [(T0 + i * 15 * MINUTE, 20.0) for i in range(4)]
    root = _parse(
        svg_line_chart(_chart(points, start_ms=T0 - 23 * 3_600_000, end_ms=T0 + 3_600_000))
    )
    line = root.find(f"{SVG}polyline")
    first_x = float(line.get("points").split()[0].split(",")[0])
    assert first_x > 350  # the readings sit at the right end of the day (420 wide)


def test_five_hundred_points_stay_well_under_30_kb() -> None:
    points = [(T0 + i * 5 * MINUTE, 30 + 10 * math.sin(i / 17)) for i in range(500)]
    band = [(t, v - 2, v + 2) for t, v in points]
    svg = svg_line_chart(_chart(points, band=band, threshold=Threshold(15, "kering")))
    assert len(svg.encode()) < 30_000


_values = st.floats(allow_nan=False, allow_infinity=False)
_times = st.integers(min_value=0, max_value=4_102_444_800_000)  # 1970 to 2100


@settings(max_examples=200, deadline=None)
@given(
    points=st.lists(st.tuples(_times, _values), max_size=60),
    band=st.lists(st.tuples(_times, _values, _values), max_size=20),
    threshold=st.none() | _values,
    offset=st.integers(min_value=-12, max_value=14),
    title=st.text(alphabet=st.characters(codec="utf-8"), max_size=30),
)
def test_any_series_gives_parseable_svg(
    points: list[tuple[int, float]],
    band: list[tuple[int, float, float]],
    threshold: float | None,
    offset: int,
    title: str,
) -> None:
    chart = Chart(
        title=title,
        description=title,
        points=points,
        band=band,
        threshold=None if threshold is None else Threshold(threshold, title),
    )
    svg = svg_line_chart(chart, utc_offset_h=offset)
    root = _parse(svg)
    shown = root.find(f"{SVG}title").text or ""
    # Characters XML cannot hold are left out (and a parser reads "\r" as "\n").
    assert set(shown) <= set(title) | {"\n"}
    # Every drawn number is finite (the title is the test's text and may read "nan").
    for element in root.iter():
        for value in element.attrib.values():
            assert not re.search(r"(?<![a-z])(nan|inf)(?![a-z])", value.lower()), value
