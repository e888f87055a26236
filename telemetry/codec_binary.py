"""Payload format 2: a compact binary batch, for prepaid uplinks.

Layout (all integers are LEB128 varints; "s" ones are zigzag-signed)::

    0x02                      format
    flags                     bit 0: the rest is zlib-compressed
    n_devices, then per device: length, ASCII id
    n_series,  then per series: device index, quantity wire code (telemetry.quantities.WIRE_CODES)
    s base_time_ms, base_seq, n_rows
    per row:
        header  bits 0-1 quality (good, suspect, bad); bits 2-4 value encoding: k = 0..6 means
                an integer of value * 10**k follows, 7 means 8 bytes of float64; bit 5: the time
                is not trusted; bit 6: a sequence jump follows; bit 7: reserved (0)
        series index
        s time delta in ms from the previous row (the first row: from base_time_ms)
        [s sequence delta - 1, when bit 6 is set; otherwise seq = previous seq + 1]
        value   s integer (k = 0..6) or float64 little-endian

Sensor values have few decimals, so most values take one to three bytes; rows of one poll share
their time (delta 0); sequence numbers are consecutive. The gateway id is not repeated: the
topic names it and the broker ACL vouches for it. Decimal encoding is only used when it gives
back exactly the same float, so the format is lossless.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from telemetry.batch import (
    MAX_ROWS,
    MAX_SEQ,
    MAX_TIME_MS,
    MIN_TIME_MS,
    DecodedBatch,
    PayloadError,
    RejectedRow,
    series_problem,
    value_problem,
)
from telemetry.quantities import QUANTITIES, WIRE_CODE, WIRE_CODES
from telemetry.reading import Quality, Reading

S = TypeVar("S")
T = TypeVar("T")


class RowMaker(Protocol[S, T]):
    """Turns a message's valid rows into the caller's records (Readings, or ingest's lines).

    ``series`` is called once for each valid series of the message's series table, ``row``
    for each valid row, with what ``series`` made for its series: what repeats in every row of
    a series (ids, unit, tags) is looked at once per message, not once per row.
    """

    def series(self, gateway_id: str, device_id: str, quantity: str, unit: str) -> S:
        """What rows of this series share."""
        ...

    def row(
        self, series: S, value: float, time_ms: int, quality: Quality, seq: int, trusted: bool
    ) -> T:
        """One valid row's record."""
        ...


class _ReadingMaker:
    """Rows as Readings."""

    def series(
        self, gateway_id: str, device_id: str, quantity: str, unit: str
    ) -> tuple[str, str, str, str]:
        return gateway_id, device_id, quantity, unit

    def row(
        self,
        series: tuple[str, str, str, str],
        value: float,
        time_ms: int,
        quality: Quality,
        seq: int,
        trusted: bool,
    ) -> Reading:
        gateway_id, device_id, quantity, unit = series
        return Reading(gateway_id, device_id, quantity, value, unit, time_ms, quality, seq, trusted)


VERSION = 2
CONTENT_TYPE = "application/vnd.tani.readings.v2"
MAX_BODY = 4 * 1024 * 1024

_QUALITIES = (Quality.GOOD, Quality.SUSPECT, Quality.BAD)
_QUALITY_BITS = {q: i for i, q in enumerate(_QUALITIES)}
_FLOAT64 = 7
_UNTRUSTED = 0x20
_SEQ_JUMP = 0x40
_RESERVED = 0x80
_DOUBLE = struct.Struct("<d")
_SCALES = tuple(10**k for k in range(_FLOAT64))


def _uvarint(out: bytearray, n: int) -> None:
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _svarint(out: bytearray, n: int) -> None:
    _uvarint(out, (n << 1) if n >= 0 else ((-n << 1) - 1))


def _decimal(value: float) -> tuple[int, int] | None:
    """(k, n) with n / 10**k == value exactly, for the smallest k in 0..6; None if none."""
    if not abs(value) < 2**53:  # also refuses inf and nan: those go as float64
        return None
    for k in range(7):
        n = round(value * 10**k)
        if abs(n) < 2**53 and n / 10**k == value:
            return k, n
    return None


def encode(readings: Sequence[Reading]) -> bytes:
    """Encode readings of one gateway as a format-2 payload."""
    devices: dict[str, int] = {}
    series: dict[tuple[int, int], int] = {}
    for r in readings:
        device = devices.setdefault(r.device_id, len(devices))
        series.setdefault((device, WIRE_CODE[r.quantity]), len(series))
    body = bytearray()
    _uvarint(body, len(devices))
    for device_id in devices:
        raw = device_id.encode("ascii")
        _uvarint(body, len(raw))
        body += raw
    _uvarint(body, len(series))
    for device, code in series:
        _uvarint(body, device)
        _uvarint(body, code)
    base_time = readings[0].time_ms if readings else 0
    base_seq = readings[0].seq if readings else 0
    _svarint(body, base_time)
    _uvarint(body, base_seq)
    _uvarint(body, len(readings))
    previous_time, expected_seq = base_time, base_seq
    for r in readings:
        decimal = _decimal(r.value)
        header = _QUALITY_BITS[r.quality] | ((decimal[0] if decimal else _FLOAT64) << 2)
        if not r.time_trusted:
            header |= _UNTRUSTED
        if r.seq != expected_seq:
            header |= _SEQ_JUMP
        body.append(header)
        _uvarint(body, series[(devices[r.device_id], WIRE_CODE[r.quantity])])
        _svarint(body, r.time_ms - previous_time)
        if r.seq != expected_seq:
            _svarint(body, r.seq - expected_seq)
        if decimal:
            _svarint(body, decimal[1])
        else:
            body += _DOUBLE.pack(r.value)
        previous_time, expected_seq = r.time_ms, r.seq + 1
    compressed = zlib.compress(bytes(body), 9)
    if len(compressed) < len(body):
        return bytes((VERSION, 1)) + compressed
    return bytes((VERSION, 0)) + bytes(body)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise PayloadError(f"payload ends early at byte {self.pos}")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise PayloadError(f"payload ends early at byte {self.pos}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def uvarint(self) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 63:
                raise PayloadError(f"varint too long at byte {self.pos}")

    def svarint(self) -> int:
        n = self.uvarint()
        return (n >> 1) if not n & 1 else -((n + 1) >> 1)

    def count(self, what: str, limit: int) -> int:
        n = self.uvarint()
        if n > limit:
            raise PayloadError(f"{n} {what} in one message, more than {limit}")
        return n


def _uvarint_at(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise PayloadError(f"varint too long at byte {pos}")


def _decode_rows(
    data: bytes,
    pos: int,
    n_rows: int,
    made: list[S | None],
    problems: list[str | None],
    time_ms: int,
    seq: int,
    rows: list[T],
    rejected: list[RejectedRow],
    row: Callable[[S, float, int, Quality, int, bool], T],
) -> int:
    """Decode the readings into ``rows`` (each made by ``row`` from its series' ``made``
    entry) and ``rejected``; returns where they end. Raises IndexError if the data ends early.

    This loop is ingest's hottest code: varints of one and two bytes (nearly all) are read
    inline, and the common valid row skips the general checks, which only run to name what is
    wrong.
    """
    append, reject = rows.append, rejected.append
    n_series = len(made)
    for index in range(n_rows):
        header = data[pos]
        b = data[pos + 1]
        if header & _RESERVED:
            raise PayloadError(f"row {index} uses a reserved header bit")
        if b < 0x80:
            series_index, pos = b, pos + 2
        else:
            series_index, pos = _uvarint_at(data, pos + 1)
        b = data[pos]
        if b < 0x80:
            pos += 1
        elif data[pos + 1] < 0x80:
            b = (b & 0x7F) | data[pos + 1] << 7
            pos += 2
        else:
            b, pos = _uvarint_at(data, pos)
        time_ms += (b >> 1) ^ -(b & 1)
        if header & _SEQ_JUMP:
            b, pos = _uvarint_at(data, pos)
            seq += (b >> 1) ^ -(b & 1)
        kind = (header >> 2) & 0x07
        if kind == _FLOAT64:
            value = _DOUBLE.unpack_from(data, pos)[0]
            pos += 8
        else:
            b = data[pos]
            if b < 0x80:
                pos += 1
            elif data[pos + 1] < 0x80:
                b = (b & 0x7F) | data[pos + 1] << 7
                pos += 2
            else:
                b, pos = _uvarint_at(data, pos)
            value = ((b >> 1) ^ -(b & 1)) / _SCALES[kind]
        trusted = not header & _UNTRUSTED
        entry = made[series_index] if series_index < n_series else None
        if (
            entry is not None
            and header & 0x03 != 3
            and 0 <= seq < MAX_SEQ
            and (
                MIN_TIME_MS <= time_ms <= MAX_TIME_MS
                if trusted
                else -MAX_TIME_MS <= time_ms <= MAX_TIME_MS
            )
            and (kind != _FLOAT64 or math.isfinite(value))
        ):
            append(row(entry, value, time_ms, _QUALITIES[header & 0x03], seq, trusted))
        else:
            reject(
                RejectedRow(
                    index,
                    _row_problem(
                        problems[series_index] if series_index < n_series else None,
                        series_index,
                        n_series,
                        header,
                        value,
                        time_ms,
                        seq,
                        trusted,
                    ),
                    seq if 0 <= seq < MAX_SEQ else None,
                )
            )
        seq += 1
    return pos


def _row_problem(
    series_problem: str | None,
    series_index: int,
    n_series: int,
    header: int,
    value: float,
    time_ms: int,
    seq: int,
    trusted: bool,
) -> str:
    if series_index >= n_series:
        return f"series {series_index} is not in the series table"
    if series_problem is not None:
        return series_problem
    if header & 0x03 == 3:
        return "unknown quality code 3"
    return value_problem(value, time_ms, seq, trusted) or "invalid reading"


_READINGS = _ReadingMaker()


def decode(payload: bytes, gateway_id: str) -> DecodedBatch:
    """Decode a format-2 payload that arrived on ``gateway_id``'s topic."""
    readings, rejected = decode_rows(payload, gateway_id, _READINGS)
    return DecodedBatch(gateway_id, readings, rejected)


def decode_rows(
    payload: bytes, gateway_id: str, make: RowMaker[S, T]
) -> tuple[list[T], list[RejectedRow]]:
    """Decode a format-2 payload, each valid row made by ``make`` (see ``RowMaker``), with the
    same checks as :func:`decode`: ingest turns rows straight into line protocol this way,
    without an object per reading."""
    if len(payload) < 2 or payload[0] != VERSION:
        raise PayloadError("not a format-2 payload")
    flags = payload[1]
    if flags & ~1:
        raise PayloadError(f"unknown flags {flags:#04x}")
    body = payload[2:]
    if flags & 1:
        inflater = zlib.decompressobj()
        try:
            body = inflater.decompress(body, MAX_BODY)
        except zlib.error as exc:
            raise PayloadError(f"compressed body is corrupt: {exc}") from None
        if inflater.unconsumed_tail:
            raise PayloadError(f"body inflates to more than {MAX_BODY} bytes")
    reader = _Reader(body)
    devices = []
    for _ in range(reader.count("devices", MAX_ROWS)):
        raw = reader.take(reader.count("id bytes", 63))
        devices.append(raw.decode("ascii", errors="replace"))
    # Each series is checked once; rows then only check their value, time and sequence.
    made: list[S | None] = []
    problems: list[str | None] = []
    for _ in range(reader.count("series", MAX_ROWS)):
        device, code = reader.uvarint(), reader.uvarint()
        device_id = devices[device] if device < len(devices) else None
        key = WIRE_CODES[code] if code < len(WIRE_CODES) else f"code {code}"
        problem = series_problem(device_id, key)
        if problem is None and device_id is not None:
            made.append(make.series(gateway_id, device_id, key, QUANTITIES[key].unit))
            problems.append(None)
        else:
            made.append(None)
            problems.append(problem or "no device")
    time_ms, seq = reader.svarint(), reader.uvarint()
    n_rows = reader.count("readings", MAX_ROWS)
    rows: list[T] = []
    rejected: list[RejectedRow] = []
    try:
        reader.pos = _decode_rows(
            reader.data, reader.pos, n_rows, made, problems, time_ms, seq, rows, rejected, make.row
        )
    except (IndexError, struct.error):
        raise PayloadError("payload ends early, inside the readings") from None
    if reader.pos != len(body):
        raise PayloadError(f"{len(body) - reader.pos} bytes left after the last reading")
    return rows, rejected
