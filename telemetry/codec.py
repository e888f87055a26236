"""Payload codec for reading batches, version 1 (compact JSON).

A batch is one MQTT message: ``{"v": 1, "gw": "<gateway_id>", "r": [[device, quantity, value,
unit, time_ms, quality, seq], ...]}``. Rows are positional arrays to keep prepaid uplink bytes
down; the envelope carries the version so the server can accept old gateways after the format
changes. Decoding is strict on the envelope (a broken envelope rejects the message) and lenient
per row (one bad row is rejected with its reason, the good rows next to it are kept).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from telemetry.quantities import QUANTITIES
from telemetry.reading import Quality, Reading, is_valid_id

PAYLOAD_VERSION = 1
CONTENT_TYPE = "application/vnd.tani.readings.v1+json"
MAX_ROWS = 10_000
# Readings stamped before 2000 or after 2100 come from a clock that was never set.
MIN_TIME_MS = 946_684_800_000
MAX_TIME_MS = 4_102_444_800_000

_QUALITY_CODE = {Quality.GOOD: "g", Quality.SUSPECT: "s", Quality.BAD: "b"}
_CODE_QUALITY = {code: quality for quality, code in _QUALITY_CODE.items()}


class PayloadError(ValueError):
    """A message that cannot be read as a reading batch at all."""


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A row of an otherwise readable batch that was refused, and why."""

    index: int
    reason: str


@dataclass(slots=True)
class DecodedBatch:
    """What a batch message held: its gateway, the valid readings and the refused rows."""

    gateway_id: str
    readings: list[Reading] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)


def encode_batch(gateway_id: str, readings: Sequence[Reading]) -> bytes:
    """Encode readings of one gateway as one version-1 payload."""
    rows = [
        [
            r.device_id,
            r.quantity,
            r.value,
            r.unit,
            r.time_ms,
            _QUALITY_CODE[r.quality],
            r.seq,
        ]
        for r in readings
    ]
    envelope = {"v": PAYLOAD_VERSION, "gw": gateway_id, "r": rows}
    return json.dumps(envelope, separators=(",", ":"), allow_nan=False).encode()


def decode_batch(payload: bytes) -> DecodedBatch:
    """Decode a payload; raise PayloadError if the envelope is unreadable."""
    try:
        envelope = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        raise PayloadError(f"not JSON: {exc}") from None
    if not isinstance(envelope, dict):
        raise PayloadError("payload is not a JSON object")
    version = envelope.get("v")
    if version != PAYLOAD_VERSION:
        raise PayloadError(f"unsupported payload version {version!r} (expected {PAYLOAD_VERSION})")
    gateway_id = envelope.get("gw")
    if not isinstance(gateway_id, str) or not is_valid_id(gateway_id):
        raise PayloadError(f"invalid gateway id {gateway_id!r}")
    rows = envelope.get("r")
    if not isinstance(rows, list):
        raise PayloadError("'r' (the readings) is missing or not a list")
    if len(rows) > MAX_ROWS:
        raise PayloadError(f"{len(rows)} readings in one message, more than {MAX_ROWS}")
    batch = DecodedBatch(gateway_id=gateway_id)
    for index, row in enumerate(rows):
        try:
            batch.readings.append(_decode_row(gateway_id, row))
        except _RowError as exc:
            batch.rejected.append(RejectedRow(index=index, reason=str(exc)))
    return batch


class _RowError(ValueError):
    pass


def _decode_row(gateway_id: str, row: object) -> Reading:
    if not isinstance(row, list) or len(row) != 7:
        raise _RowError("row is not a list of 7 items")
    device_id, key, value, unit, time_ms, quality_code, seq = row
    if not isinstance(device_id, str) or not is_valid_id(device_id):
        raise _RowError(f"invalid device id {device_id!r}")
    if not isinstance(key, str) or key not in QUANTITIES:
        raise _RowError(f"unknown quantity {key!r}")
    expected_unit = QUANTITIES[key].unit
    if unit != expected_unit:
        raise _RowError(f"unit {unit!r} for {key} (expected {expected_unit!r})")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _RowError(f"value {value!r} is not a finite number")
    if isinstance(time_ms, bool) or not isinstance(time_ms, int):
        raise _RowError(f"time {time_ms!r} is not an integer of milliseconds")
    if not MIN_TIME_MS <= time_ms <= MAX_TIME_MS:
        raise _RowError(f"time {time_ms} ms is outside 2000..2100: the clock was not set")
    quality = _CODE_QUALITY.get(quality_code) if isinstance(quality_code, str) else None
    if quality is None:
        raise _RowError(f"unknown quality code {quality_code!r}")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise _RowError(f"sequence number {seq!r} is not a non-negative integer")
    return Reading(
        gateway_id=gateway_id,
        device_id=device_id,
        quantity=key,
        value=float(value),
        unit=unit,
        time_ms=time_ms,
        quality=quality,
        seq=seq,
    )
