"""When a condition raises an alert and when it clears: the evaluator's pure logic.

Time is the readings' own time, not the evaluator's clock, so a pass that runs late or a
restart in between reaches the same decision as one that watched every reading arrive.

- A condition must hold for ``duration`` before an alert opens; one reading outside it starts
  the wait again.
- An open alert clears only past the clear threshold (hysteresis), and only after the clear
  condition has held for ``clear_hold``. A value flapping around the threshold therefore keeps
  one alert open instead of raising it again and again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from registry.alerting import RuleKind
from storage.queries import Point

RATE_WINDOW_MS = 3_600_000  # a rate rule without a window compares over an hour


class Step(Enum):
    """What one reading does to a tracked condition."""

    NOTHING = "nothing"
    OPEN = "open"
    RESOLVE = "resolve"


@dataclass(slots=True)
class Track:
    """The remembered state of one rule on one subject (persisted as a RuleState row)."""

    active: bool = False
    condition_since_ms: int | None = None
    clear_since_ms: int | None = None

    def step(
        self, time_ms: int, *, condition: bool, clear: bool, duration_ms: int, clear_hold_ms: int
    ) -> Step:
        """Advance by one observation at ``time_ms``."""
        if not self.active:
            if not condition:
                self.condition_since_ms = None
                return Step.NOTHING
            if self.condition_since_ms is None:
                self.condition_since_ms = time_ms
            if time_ms - self.condition_since_ms >= duration_ms:
                self.active = True
                self.clear_since_ms = None
                return Step.OPEN
            return Step.NOTHING
        if not clear:
            self.clear_since_ms = None
            return Step.NOTHING
        if self.clear_since_ms is None:
            self.clear_since_ms = time_ms
        if time_ms - self.clear_since_ms >= clear_hold_ms:
            self.active = False
            self.condition_since_ms = None
            self.clear_since_ms = None
            return Step.RESOLVE
        return Step.NOTHING


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """The numbers of a series rule (below, above, rate, quality_bad)."""

    kind: RuleKind
    threshold: float | None
    clear_threshold: float | None
    window_ms: int | None


@dataclass(frozen=True, slots=True)
class Observation:
    """Whether a reading meets the condition, and whether it clears it."""

    time_ms: int
    value: float
    condition: bool
    clear: bool


def observe(spec: RuleSpec, points: Sequence[Point], start: int) -> list[Observation]:
    """Observations of ``points[start:]``; earlier points serve only as history (rate).

    Readings flagged bad say nothing about the soil or air, so only the quality rule looks at
    them; a reading without a comparison point (rate) is skipped.
    """
    result = []
    for index in range(start, len(points)):
        point = points[index]
        if spec.kind is RuleKind.QUALITY_BAD:
            bad = point.quality == "bad"
            result.append(Observation(point.time_ms, point.value, bad, not bad))
            continue
        if point.quality == "bad":
            continue
        if spec.kind is RuleKind.RATE:
            observation = _rate(spec, points, index)
            if observation is not None:
                result.append(observation)
            continue
        result.append(_threshold(spec, point))
    return result


def _threshold(spec: RuleSpec, point: Point) -> Observation:
    threshold = _number(spec.threshold)
    clear_at = threshold if spec.clear_threshold is None else spec.clear_threshold
    if spec.kind is RuleKind.BELOW:
        return Observation(
            point.time_ms, point.value, point.value < threshold, point.value >= clear_at
        )
    return Observation(point.time_ms, point.value, point.value > threshold, point.value <= clear_at)


def _rate(spec: RuleSpec, points: Sequence[Point], index: int) -> Observation | None:
    """Change per hour against the oldest good reading within the window before this one,
    judged in the direction of the threshold's sign.

    At least a quarter of the window must separate the two, so two readings seconds apart
    (with sensor noise) are not taken for a fast change.
    """
    point = points[index]
    window_ms = spec.window_ms or RATE_WINDOW_MS
    earlier = next(
        (
            p
            for p in points[:index]
            if p.quality != "bad" and point.time_ms - window_ms <= p.time_ms < point.time_ms
        ),
        None,
    )
    if earlier is None or point.time_ms - earlier.time_ms < window_ms / 4:
        return None
    per_hour = (point.value - earlier.value) * 3_600_000 / (point.time_ms - earlier.time_ms)
    # The sign says the direction: -10 watches falls of 10 an hour or more, +10 rises.
    threshold = _number(spec.threshold)
    clear_at = threshold if spec.clear_threshold is None else spec.clear_threshold
    sign = 1.0 if threshold > 0 else -1.0
    return Observation(
        point.time_ms,
        per_hour,
        condition=sign * per_hour >= sign * threshold,
        clear=sign * per_hour < sign * clear_at,
    )


def _number(value: float | None) -> float:
    if value is None:
        raise ValueError("rule has no threshold")
    return value
