"""What decoding a batch yields, whatever its format, and the checks every row passes."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from telemetry.quantities import QUANTITIES
from telemetry.reading import Quality, Reading, is_valid_id

MAX_ROWS = 10_000
# Readings stamped before 2000 or after 2100 come from a clock that was never set.
MIN_TIME_MS = 946_684_800_000
MAX_TIME_MS = 4_102_444_800_000
# Sequence numbers are InfluxDB integers (signed 64-bit).
MAX_SEQ = 2**63


class PayloadError(ValueError):
    """A message that cannot be read as a reading batch at all."""


class ForgedPayloadError(PayloadError):
    """A payload that claims to come from another gateway than the topic it arrived on."""


class RowError(ValueError):
    """One row of a readable batch that must be refused."""


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A row of an otherwise readable batch that was refused, and why."""

    index: int
    reason: str
    seq: int | None = None  # when the row names one: a settled row is acknowledged all the same


@dataclass(slots=True)
class DecodedBatch:
    """What a batch message held: its gateway, the valid readings and the refused rows."""

    gateway_id: str
    readings: list[Reading] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)


def series_problem(device_id: object, key: object) -> str | None:
    """Why a (device, quantity) pair cannot carry readings, or None."""
    if not isinstance(device_id, str) or not is_valid_id(device_id):
        return f"invalid device id {device_id!r}"
    if not isinstance(key, str) or key not in QUANTITIES:
        return f"unknown quantity {key!r}"
    return None


def value_problem(value: object, time_ms: object, seq: object, time_trusted: bool) -> str | None:
    """Why a reading's value, time or sequence number is unacceptable, or None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not _is_finite(value):
        return f"value {short_repr(value)} is not a finite number"
    if isinstance(time_ms, bool) or not isinstance(time_ms, int):
        return f"time {short_repr(time_ms)} is not an integer of milliseconds"
    if time_trusted and not MIN_TIME_MS <= time_ms <= MAX_TIME_MS:
        return f"time {short_repr(time_ms)} ms is outside 2000..2100: the clock was not set"
    if not -MAX_TIME_MS <= time_ms <= MAX_TIME_MS:
        # Even a guessed time must fit InfluxDB's nanosecond timestamps.
        return f"time {short_repr(time_ms)} ms is beyond the year 2100"
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq < MAX_SEQ:
        return f"sequence number {short_repr(seq)} is not an integer in 0..2**63-1"
    return None


def _is_finite(value: int | float) -> bool:
    # An int too large for a float (JSON allows 1 followed by 309 zeros) is not a reading.
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def short_repr(value: object) -> str:
    """A value for an error message, cut so a hostile payload cannot flood the log."""
    text = repr(value) if not isinstance(value, int) or value.bit_length() < 200 else "(huge int)"
    return text if len(text) <= 40 else text[:37] + "..."


def checked_reading(
    gateway_id: str,
    device_id: object,
    key: object,
    value: object,
    time_ms: object,
    quality: Quality,
    seq: object,
    time_trusted: bool,
) -> Reading:
    """Build a Reading from decoded fields, or raise RowError naming what is wrong."""
    problem = series_problem(device_id, key) or value_problem(value, time_ms, seq, time_trusted)
    if problem:
        raise RowError(problem)
    # Checked above: these conversions change no value, they only tell the type checker.
    return Reading(
        gateway_id=gateway_id,
        device_id=str(device_id),
        quantity=str(key),
        value=float(value),  # type: ignore[arg-type]
        unit=QUANTITIES[str(key)].unit,
        time_ms=int(time_ms),  # type: ignore[call-overload]
        quality=quality,
        seq=int(seq),  # type: ignore[call-overload]
        time_trusted=time_trusted,
    )
