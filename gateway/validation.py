"""Quality flags for readings: kept with the value, never a reason to drop it.

- bad: outside what the sensor can report at all (the catalogue's physical range);
- suspect: outside what a field plausibly sees, a jump faster than the quantity can change, or a
  value stuck at exactly the same number for longer than that quantity ever stays still;
- good: everything else.

The rates below are generous on purpose: a flag should point at a broken or disturbed sensor,
not at weather. A quantity without a rule (rain, wind, sunlight, nutrients) is checked against
its ranges only, since zero rain or calm air for a whole day is normal.
"""

from __future__ import annotations

from dataclasses import dataclass

from telemetry.quantities import QUANTITIES
from telemetry.reading import Quality

_NS_PER_MIN = 60_000_000_000


@dataclass(frozen=True, slots=True)
class Rule:
    """How fast a quantity can plausibly change, and how long it can plausibly stay the same."""

    max_step_per_min: float | None
    stuck_after_min: float | None


RULES: dict[str, Rule] = {
    # Heavy rain wets the top layer fast, but not by 15 points of moisture in a minute.
    "soil_moisture": Rule(max_step_per_min=15.0, stuck_after_min=None),
    # Soil at probe depth lags and damps the air: 2 degC a minute means a probe out of the soil.
    "soil_temperature": Rule(max_step_per_min=2.0, stuck_after_min=24 * 60),
    "soil_ph": Rule(max_step_per_min=1.0, stuck_after_min=None),
    # Even a storm front cools the air by a few degrees over minutes, and air is never still
    # to a tenth of a degree for three hours in daytime and night together.
    "air_temperature": Rule(max_step_per_min=3.0, stuck_after_min=3 * 60),
    # Humidity sits at 100 % all night in the wet season: no stuck rule.
    "air_humidity": Rule(max_step_per_min=25.0, stuck_after_min=None),
    "air_pressure": Rule(max_step_per_min=2.0, stuck_after_min=6 * 60),
}


@dataclass(slots=True)
class _Series:
    value: float
    mono_ns: int
    same_since_ns: int


class Validator:
    """Flags readings, remembering the previous value of each (device, quantity) series."""

    def __init__(self, rules: dict[str, Rule] | None = None) -> None:
        self._rules = RULES if rules is None else rules
        self._series: dict[tuple[str, str], _Series] = {}

    def classify(self, device_id: str, quantity: str, value: float, mono_ns: int) -> Quality:
        """The quality of one reading taken at monotonic time ``mono_ns``."""
        spec = QUANTITIES[quantity]
        if not spec.in_physical_range(value):
            return Quality.BAD
        quality = Quality.GOOD if spec.in_plausible_range(value) else Quality.SUSPECT
        rule = self._rules.get(quantity)
        key = (device_id, quantity)
        previous = self._series.get(key)
        if previous is None or mono_ns <= previous.mono_ns:
            self._series[key] = _Series(value, mono_ns, mono_ns)
            return quality
        same_since = previous.same_since_ns if value == previous.value else mono_ns
        self._series[key] = _Series(value, mono_ns, same_since)
        if rule is None:
            return quality
        minutes = (mono_ns - previous.mono_ns) / _NS_PER_MIN
        if rule.max_step_per_min is not None and abs(value - previous.value) > max(
            rule.max_step_per_min * minutes, rule.max_step_per_min / 60
        ):
            return Quality.SUSPECT
        stuck_min = (mono_ns - same_since) / _NS_PER_MIN
        if rule.stuck_after_min is not None and stuck_min > rule.stuck_after_min:
            return Quality.SUSPECT
        return quality
