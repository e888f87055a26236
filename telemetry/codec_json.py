"""Payload format 1: compact JSON, readable with any MQTT tool.

``{"v": 1, "gw": "<gateway_id>", "r": [[device, quantity, value, unit, time_ms, quality, seq
(, time_trusted)], ...]}``. Positional rows keep bytes down; the eighth item is present (0) only
for a reading whose time could not be established.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from telemetry.batch import (
    MAX_ROWS,
    DecodedBatch,
    ForgedPayloadError,
    PayloadError,
    RejectedRow,
    RowError,
    checked_reading,
    short_repr,
)
from telemetry.quantities import QUANTITIES
from telemetry.reading import Quality, Reading, is_valid_id

VERSION = 1
CONTENT_TYPE = "application/vnd.tani.readings.v1+json"

_QUALITY_CODE = {Quality.GOOD: "g", Quality.SUSPECT: "s", Quality.BAD: "b"}
_CODE_QUALITY = {code: quality for quality, code in _QUALITY_CODE.items()}


def encode(gateway_id: str, readings: Sequence[Reading]) -> bytes:
    """Encode readings of one gateway as a format-1 payload."""
    rows = []
    for r in readings:
        row: list[object] = [
            r.device_id,
            r.quantity,
            r.value,
            r.unit,
            r.time_ms,
            _QUALITY_CODE[r.quality],
            r.seq,
        ]
        if not r.time_trusted:
            row.append(0)
        rows.append(row)
    envelope = {"v": VERSION, "gw": gateway_id, "r": rows}
    return json.dumps(envelope, separators=(",", ":"), allow_nan=False).encode()


def decode(payload: bytes, gateway_id: str) -> DecodedBatch:
    """Decode a format-1 payload that arrived on ``gateway_id``'s topic."""
    try:
        envelope = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        raise PayloadError(f"not JSON: {exc}") from None
    except RecursionError:
        raise PayloadError("not JSON from a gateway: lists or objects nested too deeply") from None
    if not isinstance(envelope, dict):
        raise PayloadError("payload is not a JSON object")
    version = envelope.get("v")
    if type(version) is not int or version != VERSION:
        raise PayloadError(
            f"unsupported payload version {short_repr(version)} (expected {VERSION})"
        )
    claimed = envelope.get("gw")
    if not isinstance(claimed, str) or not is_valid_id(claimed):
        raise PayloadError(f"invalid gateway id {short_repr(claimed)}")
    if claimed != gateway_id:
        raise ForgedPayloadError(f"payload says gateway {claimed!r} on the topic of {gateway_id!r}")
    rows = envelope.get("r")
    if not isinstance(rows, list):
        raise PayloadError("'r' (the readings) is missing or not a list")
    if len(rows) > MAX_ROWS:
        raise PayloadError(f"{len(rows)} readings in one message, more than {MAX_ROWS}")
    batch = DecodedBatch(gateway_id=gateway_id)
    for index, row in enumerate(rows):
        try:
            batch.readings.append(_decode_row(gateway_id, row))
        except RowError as exc:
            batch.rejected.append(RejectedRow(index, str(exc), _row_seq(row)))
    return batch


def _decode_row(gateway_id: str, row: object) -> Reading:
    if not isinstance(row, list) or len(row) not in (7, 8):
        raise RowError("row is not a list of 7 or 8 items")
    device_id, key, value, unit, time_ms, quality_code, seq = row[:7]
    time_trusted = len(row) == 7 or row[7] != 0
    if isinstance(key, str) and key in QUANTITIES and unit != QUANTITIES[key].unit:
        raise RowError(f"unit {unit!r} for {key} (expected {QUANTITIES[key].unit!r})")
    quality = _CODE_QUALITY.get(quality_code) if isinstance(quality_code, str) else None
    if quality is None:
        raise RowError(f"unknown quality code {quality_code!r}")
    return checked_reading(gateway_id, device_id, key, value, time_ms, quality, seq, time_trusted)


def _row_seq(row: object) -> int | None:
    """The sequence number a refused row names, if it names a usable one."""
    if isinstance(row, list) and len(row) >= 7:
        seq = row[6]
        if type(seq) is int and 0 <= seq < 2**63:
            return seq
    return None
