"""End-to-end acknowledgements: ingest tells a gateway which readings InfluxDB now holds.

The broker's PUBACK only says the broker has a message; a broker crash before its next autosave,
or a shared-subscription worker killed with messages in its session, loses what it had. So a
gateway keeps every reading until ingest confirms it is stored (or set aside as a dead letter:
settled either way), by sequence number, on the gateway's own ack topic. The ack also carries the
server's time, from which a gateway without NTP or a real-time clock learns the time.

Layout (integers are LEB128 varints)::

    0xA1                  kind and version: ack, version 1
    server_time_ms        the server's clock when it sent the ack
    n_ranges              at most MAX_RANGES
    per range: gap, length - 1
        gap: first - (previous range's last + 2); the first range's gap is its first seq

Ranges are sorted and neither overlap nor touch, so every encoding is canonical. An ack for a
batch of consecutive readings is about ten bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

KIND = 0xA1
MAX_RANGES = 4096
# A sequence number is an InfluxDB integer (signed 64-bit).
_MAX_SEQ = 2**63 - 1


class AckError(ValueError):
    """Bytes on an ack topic that are not an acknowledgement."""


@dataclass(frozen=True, slots=True)
class Ack:
    """Sequence numbers (inclusive ranges) settled by ingest, and the server's time."""

    server_time_ms: int
    ranges: tuple[tuple[int, int], ...]

    def count(self) -> int:
        """How many sequence numbers the ack covers."""
        return sum(last - first + 1 for first, last in self.ranges)


def seq_ranges(seqs: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted, disjoint, non-touching inclusive ranges covering ``seqs``."""
    ordered = sorted(set(seqs))
    if ordered and ordered[-1] - ordered[0] + 1 == len(ordered):
        # Nearly always: a message's or a gateway's readings are one run (no per-number loop).
        return [(ordered[0], ordered[-1])]
    ranges: list[tuple[int, int]] = []
    for seq in ordered:
        if ranges and seq == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], seq)
        else:
            ranges.append((seq, seq))
    return ranges


def encode_acks(server_time_ms: int, seqs: Iterable[int]) -> list[bytes]:
    """Ack payloads covering ``seqs`` (more than one only past MAX_RANGES ranges)."""
    ranges = seq_ranges(seqs)
    chunks = [ranges[i : i + MAX_RANGES] for i in range(0, len(ranges), MAX_RANGES)] or [[]]
    return [_encode(server_time_ms, chunk) for chunk in chunks]


def _encode(server_time_ms: int, ranges: list[tuple[int, int]]) -> bytes:
    out = bytearray((KIND,))
    _uvarint(out, max(server_time_ms, 0))
    _uvarint(out, len(ranges))
    next_free = 0
    for first, last in ranges:
        _uvarint(out, first - next_free)
        _uvarint(out, last - first)
        next_free = last + 2
    return bytes(out)


def decode_ack(payload: bytes) -> Ack:
    """Read an ack; raise AckError naming what is wrong."""
    if not payload or payload[0] != KIND:
        raise AckError("not an ack (wrong first byte)")
    pos = 1
    server_time_ms, pos = _read_uvarint(payload, pos)
    count, pos = _read_uvarint(payload, pos)
    if count > MAX_RANGES:
        raise AckError(f"{count} ranges in one ack, more than {MAX_RANGES}")
    ranges = []
    next_free = 0
    for _ in range(count):
        gap, pos = _read_uvarint(payload, pos)
        span, pos = _read_uvarint(payload, pos)
        first = next_free + gap
        last = first + span
        if last > _MAX_SEQ:
            raise AckError(f"sequence number {last} is beyond 2**63 - 1")
        ranges.append((first, last))
        next_free = last + 2
    if pos != len(payload):
        raise AckError(f"{len(payload) - pos} bytes left after the last range")
    return Ack(server_time_ms, tuple(ranges))


def _uvarint(out: bytearray, n: int) -> None:
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _read_uvarint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise AckError("ack ends early")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise AckError("number too long in ack")
