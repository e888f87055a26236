"""Line charts as small SVG, drawn on the server: no JavaScript, no fonts or files to fetch.

A chart is a string of SVG markup a template puts inline. It scales to the page's width
(``viewBox``, width 100 %), so one drawing fits a 360 px phone and a printed page. Times are
epoch milliseconds, labelled in the site's local time; a gap of more than three typical steps
between readings breaks the line, so a dead probe does not look like a straight ramp.

Words (title, description, "no data") come from the caller, already translated: this module
knows nothing of languages.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

from alerts.local_time import local_moment

_HOUR_MS = 3_600_000
_DAY_MS = 24 * _HOUR_MS
# Candidate distances between time ticks; the smallest giving at most _MAX_X_TICKS wins.
_TIME_STEPS_MS = (
    _HOUR_MS,
    2 * _HOUR_MS,
    3 * _HOUR_MS,
    6 * _HOUR_MS,
    12 * _HOUR_MS,
    _DAY_MS,
    2 * _DAY_MS,
    7 * _DAY_MS,
    14 * _DAY_MS,
    30 * _DAY_MS,
    91 * _DAY_MS,
    365 * _DAY_MS,
)
_MAX_X_TICKS = 5
_Y_TICKS = 4
_TAME = 1e12
_GAP_STEPS = 3  # a gap longer than this many median steps breaks the line


@dataclass(frozen=True, slots=True)
class Threshold:
    """A horizontal line across the chart (a crop's dry limit, say) and its label."""

    value: float
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    """What to draw: a series of (time_ms, value), optionally (time_ms, min, max) as a band."""

    title: str
    description: str
    points: Sequence[tuple[int, float]]
    band: Sequence[tuple[int, float, float]] = ()
    threshold: Threshold | None = None
    unit: str = ""
    no_data: str = "-"
    # Fixed time range (e.g. the last 24 hours), so an empty hour still shows as empty.
    start_ms: int | None = None
    end_ms: int | None = None
    # A range the y axis always includes (0-50 % for soil moisture), widened by the data.
    y_floor: float | None = None
    y_ceiling: float | None = None


@dataclass(frozen=True, slots=True)
class _Frame:
    """Where the plot area sits in the drawing, and the data ranges it maps."""

    # Drawn at about a phone's width, so 13-unit text stays readable when scaled to 360 px.
    width: int = 420
    height: int = 190
    left: int = 40
    right: int = 8
    top: int = 14
    bottom: int = 24

    @property
    def plot_w(self) -> float:
        return self.width - self.left - self.right

    @property
    def plot_h(self) -> float:
        return self.height - self.top - self.bottom


# Characters XML 1.0 does not allow at all, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(words: str) -> str:
    """Words as SVG text: escaped, and without characters XML cannot carry."""
    return escape(_NOT_XML.sub("", words))


def _finite(value: float) -> bool:
    return math.isfinite(value)


def _fraction(value: float, low: float, high: float) -> float:
    # Halved first: high - low of two huge floats of opposite signs would overflow to inf.
    span = high / 2 - low / 2
    if span <= 0 or not math.isfinite(span):
        return 0.5
    return min(1.0, max(0.0, (value / 2 - low / 2) / span))


def _nice_step(span: float, ticks: int) -> float:
    raw = span / ticks
    if raw <= 0 or not math.isfinite(raw):
        return 0.0
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def _y_range(values: list[float], chart: Chart) -> tuple[float, float]:
    extra = [v for v in (chart.y_floor, chart.y_ceiling) if v is not None]
    if chart.threshold is not None and _finite(chart.threshold.value):
        extra.append(chart.threshold.value)
    every = values + extra
    low, high = min(every), max(every)
    if high - low < 1e-9 * max(1.0, abs(high)) or not math.isfinite(high - low):
        pad = max(1.0, abs(high) * 0.1) if math.isfinite(abs(high) * 0.1) else 1.0
        low, high = low - pad, high + pad
    if _tame(low, high):
        step = _nice_step(high - low, _Y_TICKS)
        if step > 0:
            low, high = math.floor(low / step) * step, math.ceil(high / step) * step
    return float(low), float(high)


def _tame(low: float, high: float) -> bool:
    """Whether a range is small enough for round ticks (no sensor reads 1e15 of anything)."""
    return max(abs(low), abs(high)) < _TAME and high > low


def _y_ticks(low: float, high: float) -> list[float]:
    if not _tame(low, high):
        return [low, high]
    step = _nice_step(high - low, _Y_TICKS)
    if step <= 0:
        return [low, high]
    first = math.ceil(low / step) * step
    count = int((high - first) / step + 1e-9) + 1
    return [first + i * step for i in range(min(count, _Y_TICKS * 3))]


def _time_ticks(start_ms: int, end_ms: int, utc_offset_h: int) -> tuple[list[int], bool]:
    """Tick times on local boundaries, and whether labels should be dates (not hours)."""
    span = end_ms - start_ms
    step = next((s for s in _TIME_STEPS_MS if span / s <= _MAX_X_TICKS), _TIME_STEPS_MS[-1])
    offset_ms = utc_offset_h * _HOUR_MS
    if step < _DAY_MS:
        first = start_ms - (start_ms + offset_ms) % step
    else:
        # Whole local days; steps of several days start at any midnight.
        first = start_ms - (start_ms + offset_ms) % _DAY_MS
    ticks = []
    tick = first
    while tick <= end_ms and len(ticks) < 3 * _MAX_X_TICKS:
        if tick >= start_ms:
            ticks.append(tick)
        tick += step
    return ticks, step >= _DAY_MS


def _time_label(time_ms: int, utc_offset_h: int, dates: bool) -> str:
    try:
        moment = local_moment(time_ms, utc_offset_h)
    except (OverflowError, OSError, ValueError):
        return ""
    return f"{moment:%d/%m}" if dates else f"{moment:%H:%M}"


def _number(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e6 or abs(value) < 1e-3:
        return f"{value:.3g}"
    return f"{value:.6g}" if value != round(value) else f"{value:.0f}"


def _segments(points: list[tuple[int, float]]) -> list[list[tuple[int, float]]]:
    """The points split where readings stopped for a while (a gap, not a slope)."""
    if len(points) < 3:
        return [points] if points else []
    steps = sorted(b[0] - a[0] for a, b in itertools.pairwise(points))
    limit = max(1, steps[len(steps) // 2]) * _GAP_STEPS
    segments: list[list[tuple[int, float]]] = [[points[0]]]
    for previous, point in itertools.pairwise(points):
        if point[0] - previous[0] > limit:
            segments.append([])
        segments[-1].append(point)
    return segments


def svg_line_chart(chart: Chart, *, utc_offset_h: int = 7, chart_id: str = "c") -> str:
    """The chart as an inline ``<svg>`` element (a few KB for hundreds of points)."""
    frame = _Frame()
    points = sorted((int(t), float(v)) for t, v in chart.points if _finite(v))
    band = sorted(
        (int(t), float(lo), float(hi)) for t, lo, hi in chart.band if _finite(lo) and _finite(hi)
    )
    times = [t for t, _ in points] + [t for t, _, _ in band]
    start = chart.start_ms if chart.start_ms is not None else min(times, default=0)
    end = chart.end_ms if chart.end_ms is not None else max(times, default=0)
    if end <= start:
        start, end = start - _HOUR_MS, end + _HOUR_MS
    values = [v for _, v in points] + [x for _, lo, hi in band for x in (lo, hi)]
    title_id, desc_id = f"{chart_id}-t", f"{chart_id}-d"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {frame.width} {frame.height}"'
        f' width="100%" role="img" aria-labelledby="{title_id} {desc_id}" class="chart"'
        ' font-family="sans-serif" font-size="13">',
        f'<title id="{title_id}">{_text(chart.title)}</title>',
        f'<desc id="{desc_id}">{_text(chart.description)}</desc>',
        f'<rect x="{frame.left}" y="{frame.top}" width="{frame.plot_w:g}"'
        f' height="{frame.plot_h:g}" fill="#fff" stroke="#999"/>',
    ]
    if not values:
        out.append(
            f'<text x="{frame.left + frame.plot_w / 2:.1f}" y="{frame.top + frame.plot_h / 2:.1f}"'
            f' text-anchor="middle" fill="#555">{_text(chart.no_data)}</text>'
        )
        out.append("</svg>")
        return "".join(out)
    low, high = _y_range(values, chart)

    def x_of(time_ms: int) -> str:
        share = (time_ms - start) / (end - start)
        return f"{frame.left + frame.plot_w * min(1.0, max(0.0, share)):.1f}"

    def y_of(value: float) -> str:
        return f"{frame.top + frame.plot_h * (1 - _fraction(value, low, high)):.1f}"

    for tick in _y_ticks(low, high):
        y = y_of(tick)
        out.append(
            f'<line x1="{frame.left}" x2="{frame.width - frame.right}" y1="{y}" y2="{y}"'
            ' stroke="#e0e0e0"/>'
            f'<text x="{frame.left - 4}" y="{y}" dy="4" text-anchor="end">'
            f"{_number(tick)}</text>"
        )
    ticks, dates = _time_ticks(start, end, utc_offset_h)
    base = frame.height - frame.bottom
    for tick in ticks:
        x = x_of(tick)
        # A label at either edge is anchored inside the drawing, not cut in half.
        anchor = "middle"
        if float(x) > frame.width - frame.right - 18:
            anchor = "end"
        elif float(x) < frame.left + 18:
            anchor = "start"
        out.append(
            f'<line x1="{x}" x2="{x}" y1="{base}" y2="{base + 4}" stroke="#999"/>'
            f'<text x="{x}" y="{base + 17}" text-anchor="{anchor}">'
            f"{_time_label(tick, utc_offset_h, dates)}</text>"
        )
    if chart.unit:
        out.append(f'<text x="4" y="{frame.top - 3}">{_text(chart.unit)}</text>')
    if band:
        upper = " ".join(f"{x_of(t)},{y_of(hi)}" for t, _, hi in band)
        lower = " ".join(f"{x_of(t)},{y_of(lo)}" for t, lo, _ in reversed(band))
        out.append(f'<polygon points="{upper} {lower}" fill="#bbdefb" stroke="none"/>')
    if chart.threshold is not None and _finite(chart.threshold.value):
        y = y_of(chart.threshold.value)
        out.append(
            f'<line x1="{frame.left}" x2="{frame.width - frame.right}" y1="{y}" y2="{y}"'
            ' stroke="#e65100" stroke-dasharray="6 4" stroke-width="1.5"/>'
            f'<text x="{frame.width - frame.right - 4}" y="{y}" dy="-4" text-anchor="end"'
            f' fill="#bf360c">{_text(chart.threshold.label)}</text>'
        )
    for segment in _segments(points):
        if len(segment) == 1:
            t, v = segment[0]
            out.append(f'<circle cx="{x_of(t)}" cy="{y_of(v)}" r="3" fill="#0d47a1"/>')
        else:
            path = " ".join(f"{x_of(t)},{y_of(v)}" for t, v in segment)
            out.append(
                f'<polyline points="{path}" fill="none" stroke="#0d47a1" stroke-width="2"'
                ' stroke-linejoin="round"/>'
            )
    out.append("</svg>")
    return "".join(out)
