"""Finding a Modbus RTU reply in received bytes that may carry noise before or after it.

pymodbus 3.16's RTU framer gives up on a whole buffer at the first candidate frame whose CRC
fails, and a noise byte followed by the reply's unit id looks like such a candidate whenever the
unit id is also a function code (unit 1 reads as "read coils"): one noise byte before a reply
would lose it. So the soil bus hands pymodbus only a frame found and checked here.
"""

from __future__ import annotations

from dataclasses import dataclass

from pymodbus.framer.rtu import FramerRTU

EXCEPTION_FLAG = 0x80
_EXCEPTION_FRAME_SIZE = 5  # unit, function | 0x80, exception code, CRC (2)


@dataclass(frozen=True, slots=True)
class ReplyScan:
    """What a buffer holds for one outstanding read.

    ``frame`` is the first complete reply with a good CRC (or None), ``skipped`` the bytes
    before it, and ``bad_crc`` whether a complete reply-shaped frame failed its CRC.
    """

    frame: bytes | None
    skipped: int
    bad_crc: bool


def crc_ok(frame: bytes) -> bool:
    """Whether the last two bytes are the Modbus CRC-16 of the rest (low byte first)."""
    if len(frame) < 4:
        return False
    return FramerRTU.compute_CRC(frame[:-2]) == int.from_bytes(frame[-2:], "big")


def scan_reply(buffer: bytes, unit: int, function: int, count: int) -> ReplyScan:
    """Look for the reply of ``unit`` to ``function`` (a register read of ``count``).

    A normal reply is ``unit, function, 2 * count, data, CRC``; an exception reply is
    ``unit, function | 0x80, code, CRC``. Every offset is tried, so noise before the reply (even
    noise that starts like a frame) is skipped, and bytes after the reply are ignored.
    """
    bad_crc = False
    for start in range(len(buffer) - 1):
        if buffer[start] != unit:
            continue
        size = _frame_size(buffer, start, function, count)
        if size is None or start + size > len(buffer):
            continue
        frame = buffer[start : start + size]
        if crc_ok(frame):
            return ReplyScan(frame, start, bad_crc)
        bad_crc = True
    return ReplyScan(None, 0, bad_crc)


def _frame_size(buffer: bytes, start: int, function: int, count: int) -> int | None:
    code = buffer[start + 1]
    if code == function | EXCEPTION_FLAG:
        return _EXCEPTION_FRAME_SIZE
    if code != function or start + 2 >= len(buffer) or buffer[start + 2] != 2 * count:
        return None
    return 3 + 2 * count + 2
