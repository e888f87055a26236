"""The lines an emulated weather station can speak, and how line noise breaks them.

``wxsta`` (the default)::

    $WXSTA,<seq>,TA=27.4,RH=81.2,PA=1008.6,WS=1.8,WD=135,RC=12,SR=512*4F\\r\\n

``seq`` counts samples from 0 and wraps at 65536; TA degC, RH %, PA hPa and WS m/s have one
decimal; WD is whole degrees 0..359; RC is the cumulative tipping-bucket count (0.2 mm a tip,
wrapping at 65536); SR whole W/m2. The two hex digits after ``*`` are the XOR of every byte
strictly between ``$`` and ``*``.

``vaisala_wxt``, modelled on the ASCII automatic composite data message (``aR0``) of a Vaisala
WXT520/WXT530 set to metric units::

    0R0,Dm=135D,Sm=1.8M,Ta=27.4C,Ua=81.2P,Pa=1008.6H,Rc=12.40M\\r\\n

Dm average wind direction (deg, 3 digits), Sm average wind speed (m/s), Ta air temperature
(degC), Ua relative humidity (%), Pa pressure (hPa), Rc rain accumulated since the counter's last
reset (mm, 0.01 resolution). Simplified: a fixed parameter set, no solar radiation (a WXT has
none in its composite message), no CRC mode. Without a checksum, line noise that changes one
digit cannot be detected, so this format's garble modes are ones a parser can see: a character
that is not a number, or a line cut short.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Protocol

from firmware_sim import quantities as q
from firmware_sim.model import FieldSample

WXSTA = "wxsta"
VAISALA_WXT = "vaisala_wxt"
SENTENCE = "WXSTA"
MM_PER_TIP = 0.2
COUNTER_MODULO = 65536
# Not a catalogue quantity: the WXT's Rc total, kept in the station's history.
RAIN_TOTAL_MM = "rain_total_mm"


@dataclass(frozen=True, slots=True)
class Rendered:
    """One sample as a line, the values it carries, and its raw rain item."""

    line: str
    values: dict[str, float]
    rain_raw: float


class LineFormat(Protocol):
    """How one station model writes its samples."""

    name: str
    garble_modes: tuple[str, ...]

    def render(self, seq: int, sample: FieldSample) -> Rendered:
        """The line for sample number ``seq``."""
        ...

    def rain_since(self, previous: float, current: float) -> float:
        """Millimetres between two raw rain items."""
        ...

    def garble(self, line: str, mode: str, rng: random.Random) -> str:
        """``line`` as line noise would leave it, in a way a reader can detect."""
        ...


def checksum(body: str) -> str:
    """NMEA checksum of the text between ``$`` and ``*``: two uppercase hex digits."""
    value = 0
    for byte in body.encode("ascii"):
        value ^= byte
    return f"{value:02X}"


def rain_tip_count(rain_total_mm: float) -> int:
    """Tipping-bucket counter after ``rain_total_mm`` of rain, as the 16-bit counter shows it."""
    # The epsilon keeps 0.6 mm (0.6 / 0.2 = 2.9999999999999996) at three tips.
    return math.floor(rain_total_mm / MM_PER_TIP + 1e-9) % COUNTER_MODULO


def sample_fields(sample: FieldSample) -> list[tuple[str, str, str]]:
    """(line key, quantity key, text) of each measured field, formatted as the station does."""
    return [
        ("TA", q.AIR_TEMPERATURE, f"{sample.air_temperature:.1f}"),
        ("RH", q.AIR_HUMIDITY, f"{sample.air_humidity:.1f}"),
        ("PA", q.AIR_PRESSURE, f"{sample.air_pressure:.1f}"),
        ("WS", q.WIND_SPEED, f"{sample.wind_speed:.1f}"),
        ("WD", q.WIND_DIRECTION, f"{round(sample.wind_direction) % 360:d}"),
        ("SR", q.SOLAR_RADIATION, f"{round(sample.solar_radiation):d}"),
    ]


def format_line(seq: int, fields: list[tuple[str, str, str]], rain_count: int) -> str:
    """The full ``$WXSTA`` line, ``$`` to CRLF, for sample ``seq``."""
    text = {key: value for key, _, value in fields}
    body = ",".join(
        [
            SENTENCE,
            str(seq % COUNTER_MODULO),
            *(f"{k}={text[k]}" for k in ("TA", "RH", "PA", "WS", "WD")),
            f"RC={rain_count % COUNTER_MODULO}",
            f"SR={text['SR']}",
        ]
    )
    return f"${body}*{checksum(body)}\r\n"


def garble(line: str, mode: str, rng: random.Random) -> str:
    """Corrupt a ``$WXSTA`` line as line noise would, so that its checksum can no longer pass.

    ``flip`` changes one digit, ``drop`` loses one character (either changes the XOR by a
    non-zero byte), ``truncate`` cuts the line before its ``*hh``.
    """
    star = line.index("*")
    if mode == "flip":
        digits = [i for i in range(1, star) if line[i].isdigit()]
        i = rng.choice(digits)
        new = rng.choice([d for d in "0123456789" if d != line[i]])
        return line[:i] + new + line[i + 1 :]
    if mode == "drop":
        i = rng.randrange(1, star)
        return line[:i] + line[i + 1 :]
    if mode == "truncate":
        return line[: rng.randrange(1, star)] + "\r\n"
    raise ValueError(f"unknown garble mode {mode!r}")


class WxstaLines:
    """The ``$WXSTA`` NMEA-style line with a tipping-bucket counter."""

    name = WXSTA
    garble_modes = ("flip", "drop", "truncate")

    def render(self, seq: int, sample: FieldSample) -> Rendered:
        """The line for sample ``seq``; history keeps RC and seq besides the quantities."""
        count = rain_tip_count(sample.rain_total_mm)
        fields = sample_fields(sample)
        values: dict[str, float] = {key: float(text) for _, key, text in fields}
        values[q.RAIN_TIP_COUNT] = count
        values[q.SAMPLE_SEQ] = seq
        return Rendered(format_line(seq, fields, count), values, count)

    def rain_since(self, previous: float, current: float) -> float:
        """Tips since the previous line, in mm."""
        return round((int(current) - int(previous)) % COUNTER_MODULO * MM_PER_TIP, 1)

    def garble(self, line: str, mode: str, rng: random.Random) -> str:
        """See :func:`garble`."""
        return garble(line, mode, rng)


class VaisalaWxtLines:
    """The Vaisala WXT composite message in metric units (see the module docstring)."""

    name = VAISALA_WXT
    garble_modes = ("mangle", "truncate")

    def render(self, seq: int, sample: FieldSample) -> Rendered:
        """The composite message; history keeps the Rc total besides the quantities."""
        direction = round(sample.wind_direction) % 360
        fields = [
            ("Dm", q.WIND_DIRECTION, f"{direction:03d}", "D"),
            ("Sm", q.WIND_SPEED, f"{sample.wind_speed:.1f}", "M"),
            ("Ta", q.AIR_TEMPERATURE, f"{sample.air_temperature:.1f}", "C"),
            ("Ua", q.AIR_HUMIDITY, f"{sample.air_humidity:.1f}", "P"),
            ("Pa", q.AIR_PRESSURE, f"{sample.air_pressure:.1f}", "H"),
        ]
        total = round(sample.rain_total_mm, 2)
        items = [f"{key}={text}{unit}" for key, _, text, unit in fields]
        line = ",".join(["0R0", *items, f"Rc={total:.2f}M"]) + "\r\n"
        values: dict[str, float] = {key: float(text) for _, key, text, _ in fields}
        values[RAIN_TOTAL_MM] = total
        return Rendered(line, values, total)

    def rain_since(self, previous: float, current: float) -> float:
        """Growth of the Rc total since the previous line, in mm."""
        return round(current - previous, 2)

    def garble(self, line: str, mode: str, rng: random.Random) -> str:
        """``mangle`` puts a letter in place of one digit; ``truncate`` cuts the line inside its
        last item, so the rain value or its unit is missing."""
        if mode == "mangle":
            digits = [i for i in range(4, len(line)) if line[i].isdigit()]
            i = rng.choice(digits)
            return line[:i] + rng.choice("xyz?") + line[i + 1 :]
        if mode == "truncate":
            last = line.rindex(",") + 1
            return line[: rng.randrange(last, len(line) - 3)] + "\r\n"
        raise ValueError(f"unknown garble mode {mode!r}")


FORMATS: dict[str, LineFormat] = {f.name: f for f in (WxstaLines(), VaisalaWxtLines())}
