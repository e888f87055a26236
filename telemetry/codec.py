"""Payload codec for reading batches: choose a format to send, recognise any format received.

Format 2 (binary, ``codec_binary``) is what gateways send by default: a few bytes a reading.
Format 1 (JSON, ``codec_json``) stays readable for debugging and for old gateways. The first
byte tells them apart: ``{`` for JSON, 0x02 for binary.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from telemetry import codec_binary, codec_json
from telemetry.batch import (
    MAX_TIME_MS,
    MIN_TIME_MS,
    DecodedBatch,
    ForgedPayloadError,
    PayloadError,
    RejectedRow,
)
from telemetry.reading import Reading

PayloadFormat = Literal["binary", "json"]

__all__ = [
    "MAX_TIME_MS",
    "MIN_TIME_MS",
    "DecodedBatch",
    "ForgedPayloadError",
    "PayloadError",
    "PayloadFormat",
    "RejectedRow",
    "content_type",
    "decode_batch",
    "decode_rows",
    "encode_batch",
    "is_binary",
]


def encode_batch(
    gateway_id: str, readings: Sequence[Reading], payload_format: PayloadFormat = "binary"
) -> bytes:
    """Encode readings of one gateway in the chosen format."""
    if payload_format == "json":
        return codec_json.encode(gateway_id, readings)
    return codec_binary.encode(readings)


def content_type(payload_format: PayloadFormat) -> str:
    """The MQTT v5 content type of a format."""
    return codec_json.CONTENT_TYPE if payload_format == "json" else codec_binary.CONTENT_TYPE


def is_binary(payload: bytes) -> bool:
    """Whether ``payload`` claims format 2 (its first byte); it may still be malformed."""
    return payload[:1] == bytes([codec_binary.VERSION])


def decode_rows(
    payload: bytes, gateway_id: str, make: codec_binary.RowMaker[codec_binary.S, codec_binary.T]
) -> tuple[list[codec_binary.T], list[RejectedRow]]:
    """A format-2 payload's valid rows, each made by ``make``, and its refused rows (see
    ``codec_binary.decode_rows``); raises ``PayloadError`` like :func:`decode_batch`."""
    return codec_binary.decode_rows(payload, gateway_id, make)


def decode_batch(payload: bytes, gateway_id: str) -> DecodedBatch:
    """Decode a payload in any known format that arrived on ``gateway_id``'s topic."""
    if not payload:
        raise PayloadError("empty payload")
    if payload[0] == codec_binary.VERSION:
        return codec_binary.decode(payload, gateway_id)
    if payload.lstrip()[:1] == b"{":
        return codec_json.decode(payload, gateway_id)
    raise PayloadError(f"unknown payload format (first byte {payload[0]:#04x})")
