"""Line formats of ASCII weather stations, as data, and the parser that reads them.

A format says how a line starts (its sentence), what separates its items, whether items are
``KEY=VALUE`` pairs or found by position, which item is which catalogue quantity (with a unit
suffix to check and a scale), whether an NMEA ``*hh`` checksum ends it, and how its rain item
counts. Built-in formats:

- ``wxsta`` (the default): ``$WXSTA,<seq>,TA=27.4,RH=81.2,PA=1008.6,WS=1.8,WD=135,RC=12,SR=512*4F``;
  the ``*hh`` is the XOR of every byte between ``$`` and ``*``; ``RC`` is the cumulative
  tipping-bucket count (0.2 mm a tip, wrapping at 65536).
- ``vaisala_wxt``: modelled on the ASCII composite data message (``aR0``) of a Vaisala WXT520 /
  WXT530 in automatic mode with metric units:
  ``0R0,Dm=135D,Sm=1.8M,Ta=27.4C,Ua=81.2P,Pa=1008.6H,Rc=12.40M``. Each value carries its unit
  letter, which the station replaces with ``#`` when the value is invalid; ``Rc`` is the rain
  accumulated since the station's last counter reset, in mm. Simplified: the parameter set is
  fixed to these (a real station's is configurable, and extra pairs are ignored here), imperial
  unit letters are refused rather than converted, the station's optional 3-character CRC
  (``0r0,...`` in CRC mode) is not supported, and there is no sample counter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from gateway.drivers.base import DeviceReadError

MAX_LINE = 256

Layout = Literal["key_value", "positional"]
Checksum = Literal["nmea", "none"]
RainMode = Literal["tip_counter", "total_mm", "interval_mm"]


class WeatherLineError(DeviceReadError):
    """A line that is not a valid sentence of the station's format."""

    def __init__(self, message: str) -> None:
        super().__init__("garbled_line", message)


@dataclass(frozen=True, slots=True)
class Slot:
    """Where a value sits on the line: by ``key`` (``KEY=VALUE``) or by ``position``.

    ``position`` counts items after the sentence, from 0. ``unit`` is the text that must follow
    the number (``"C"`` in ``Ta=23.6C``); empty for none.
    """

    key: str | None = None
    position: int | None = None
    unit: str = ""

    def __post_init__(self) -> None:
        if (self.key is None) == (self.position is None):
            raise ValueError("a slot needs exactly one of key and position")
        if self.position is not None and self.position < 0:
            raise ValueError(f"position {self.position} is negative")
        if self.key == "":
            raise ValueError("a slot key cannot be empty")

    @property
    def name(self) -> str:
        """How refusals name the slot."""
        return self.key if self.key is not None else f"position {self.position}"


@dataclass(frozen=True, slots=True)
class LineField:
    """One item of the line that becomes a catalogue quantity: value = number * scale."""

    quantity: str
    slot: Slot
    scale: float = 1.0


@dataclass(frozen=True, slots=True)
class RainField:
    """The rain item and how it counts.

    ``tip_counter``: cumulative bucket tips (an integer), ``mm_per_tip`` each, wrapping at
    ``modulus``. ``total_mm``: cumulative millimetres since the station's last reset (a value
    that drops means the station reset its counter). ``interval_mm``: millimetres since the
    station's previous line.
    """

    slot: Slot
    mode: RainMode = "tip_counter"
    mm_per_tip: float = 0.2
    modulus: int = 65536

    def __post_init__(self) -> None:
        if self.mm_per_tip <= 0 or not math.isfinite(self.mm_per_tip):
            raise ValueError("mm_per_tip must be positive")
        if self.modulus < 2:
            raise ValueError("modulus must be at least 2")


@dataclass(frozen=True, slots=True)
class LineFormat:
    """Everything the parser needs to know about one kind of station line."""

    name: str
    sentence: str
    fields: tuple[LineField, ...]
    layout: Layout = "key_value"
    separator: str = ","
    checksum: Checksum = "none"
    rain: RainField | None = None
    sequence: Slot | None = None
    invalid_marker: str = ""  # replaces the unit of an invalid value ("#" on a Vaisala WXT)

    def __post_init__(self) -> None:
        if not self.sentence or not self.separator or self.separator in self.sentence:
            raise ValueError("sentence and separator must be non-empty and distinct")
        texts = [self.sentence, self.separator, self.invalid_marker]
        texts += [t for s in self.slots() for t in (s.key or "", s.unit)]
        if not all(t.isascii() for t in texts):
            # A station line is ASCII: a format with other characters could never match one.
            raise ValueError("sentence, separator, keys, units and invalid marker must be ASCII")
        if self.checksum == "nmea" and not self.sentence.startswith("$"):
            raise ValueError("an NMEA sentence starts with '$'")
        slots = self.slots()
        if self.layout == "positional" and any(s.position is None for s in slots):
            raise ValueError("a positional format finds every value by position")
        names = [s.name for s in slots]
        quantities = [f.quantity for f in self.fields]
        for what, values in (("slot", names), ("quantity", quantities)):
            repeated = sorted({v for v in values if values.count(v) > 1})
            if repeated:
                raise ValueError(f"format {self.name!r} repeats {what} {', '.join(repeated)}")

    def slots(self) -> list[Slot]:
        """Every slot the format reads: quantities, rain and sample counter."""
        slots = [f.slot for f in self.fields]
        if self.rain is not None:
            slots.append(self.rain.slot)
        if self.sequence is not None:
            slots.append(self.sequence)
        return slots


@dataclass(frozen=True, slots=True)
class WeatherSample:
    """One parsed line.

    ``rain_raw`` is the rain item as sent (tips or mm, see RainField); ``invalid`` names the
    items the station flagged invalid, which are left out of ``values``; ``skipped`` is how many
    bytes of noise came before the sentence.
    """

    values: dict[str, float]
    seq: int | None = None
    rain_raw: float | None = None
    invalid: tuple[str, ...] = ()
    skipped: int = 0


def checksum(body: bytes) -> int:
    """NMEA checksum: XOR of all bytes."""
    value = 0
    for byte in body:
        value ^= byte
    return value


def parse_line(line: bytes, fmt: LineFormat) -> WeatherSample:
    """Parse one line (with or without CR/LF); raise WeatherLineError with the reason."""
    text = line.strip(b"\r\n")
    if len(text) > MAX_LINE:
        raise WeatherLineError(f"line of {len(text)} bytes is too long")
    marker = (fmt.sentence + fmt.separator).encode("ascii")
    # Noise before the sentence (a half line after a reconnect or a cut line) is skipped, as
    # NMEA readers do: the last start marker on the line begins the sentence.
    start = text.rfind(marker)
    if start < 0:
        raise WeatherLineError(f"no {fmt.sentence!r} sentence on the line")
    body = _verify_nmea(text[start:]) if fmt.checksum == "nmea" else text[start:]
    try:
        items = body.decode("ascii").split(fmt.separator)[1:]
    except UnicodeDecodeError:
        raise WeatherLineError("line has non-ASCII bytes") from None
    reader = _Items(items, fmt)
    values: dict[str, float] = {}
    invalid: list[str] = []
    for f in fmt.fields:
        value = reader.number(f.slot)
        if value is None:
            invalid.append(f.slot.name)
            continue
        scaled = value * f.scale
        if not math.isfinite(scaled):
            raise WeatherLineError(f"{f.slot.name} {value:g} times {f.scale:g} is too large")
        values[f.quantity] = round(scaled, 6)
    rain_raw = None
    if fmt.rain is not None:
        rain_raw = _rain(reader, fmt.rain)
        if rain_raw is None:
            invalid.append(fmt.rain.slot.name)
    seq = None
    if fmt.sequence is not None:
        seq = _integer(reader.text(fmt.sequence), "sample counter")
    return WeatherSample(values, seq, rain_raw, tuple(invalid), start)


def _verify_nmea(text: bytes) -> bytes:
    """The text between ``$`` and ``*`` of a sentence whose ``*hh`` checksum is right."""
    star = text.find(b"*")
    if star < 0 or len(text) != star + 3:
        raise WeatherLineError("no '*hh' checksum at the end of the line")
    body, given = text[1:star], text[star + 1 :]
    try:
        expected = int(given, 16)
    except ValueError:
        raise WeatherLineError(f"checksum {given!r} is not hex") from None
    if checksum(body) != expected:
        raise WeatherLineError(f"checksum mismatch: line says {given.decode('ascii', 'replace')}")
    return text[:star]


@dataclass(slots=True)
class _Items:
    """The items after the sentence, looked up by position or by key."""

    items: list[str]
    fmt: LineFormat
    pairs: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.fmt.layout != "key_value":
            return
        fmt = self.fmt
        positional = {s.position for s in fmt.slots() if s.position is not None}
        for index, item in enumerate(self.items):
            if index in positional:
                continue
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise WeatherLineError(f"item {item!r} is not KEY=VALUE")
            self.pairs[key] = value
        missing = [s.key for s in fmt.slots() if s.key is not None and s.key not in self.pairs]
        if missing:
            raise WeatherLineError(f"missing {', '.join(sorted(missing))}")

    def text(self, slot: Slot) -> str:
        if slot.key is not None:
            return self.pairs[slot.key]
        assert slot.position is not None  # a Slot has a key or a position
        if slot.position >= len(self.items):
            raise WeatherLineError(f"missing {slot.name} (the line has {len(self.items)} items)")
        return self.items[slot.position]

    def value_text(self, slot: Slot) -> str | None:
        """The number's text without its unit; None if the station flagged it invalid."""
        text = self.text(slot)
        marker = self.fmt.invalid_marker
        if slot.unit:
            if marker and text.endswith(marker):
                return None
            if not text.endswith(slot.unit):
                raise WeatherLineError(f"{slot.name} {text!r} is not in unit {slot.unit!r}")
            text = text[: -len(slot.unit)]
        elif marker and text == marker:
            return None
        if not text:
            raise WeatherLineError(f"{slot.name} has no value")
        return text

    def number(self, slot: Slot) -> float | None:
        text = self.value_text(slot)
        return None if text is None else _float(text, slot.name)


def _rain(reader: _Items, rain: RainField) -> float | None:
    text = reader.value_text(rain.slot)
    if text is None:
        return None
    if rain.mode == "tip_counter":
        count = _integer(text, rain.slot.name)
        if not 0 <= count < rain.modulus:
            raise WeatherLineError(f"rain counter {count} outside 0..{rain.modulus - 1}")
        return float(count)
    value = _float(text, rain.slot.name)
    if value < 0:
        raise WeatherLineError(f"rain {value} mm is negative")
    return value


def _integer(text: str, what: str) -> int:
    # int() and float() take "_" between digits: "1_35" would be 135 where line noise turned
    # a digit into "_". (Spaces around a number stay allowed: stations pad fixed-width items.)
    try:
        if "_" in text:
            raise ValueError(text)
        return int(text)
    except ValueError:
        raise WeatherLineError(f"{what} {text!r} is not an integer") from None


def _float(text: str, what: str) -> float:
    try:
        if "_" in text:
            raise ValueError(text)
        value = float(text)
    except ValueError:
        raise WeatherLineError(f"{what} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise WeatherLineError(f"{what} {text!r} is not a finite number")
    return value


WXSTA = LineFormat(
    name="wxsta",
    sentence="$WXSTA",
    checksum="nmea",
    sequence=Slot(position=0),
    fields=(
        LineField("air_temperature", Slot(key="TA")),
        LineField("air_humidity", Slot(key="RH")),
        LineField("air_pressure", Slot(key="PA")),
        LineField("wind_speed", Slot(key="WS")),
        LineField("wind_direction", Slot(key="WD")),
        LineField("solar_radiation", Slot(key="SR")),
    ),
    rain=RainField(Slot(key="RC"), mode="tip_counter", mm_per_tip=0.2, modulus=65536),
)

VAISALA_WXT = LineFormat(
    name="vaisala_wxt",
    sentence="0R0",
    invalid_marker="#",
    fields=(
        LineField("wind_direction", Slot(key="Dm", unit="D")),
        LineField("wind_speed", Slot(key="Sm", unit="M")),
        LineField("air_temperature", Slot(key="Ta", unit="C")),
        LineField("air_humidity", Slot(key="Ua", unit="P")),
        LineField("air_pressure", Slot(key="Pa", unit="H")),
    ),
    rain=RainField(Slot(key="Rc", unit="M"), mode="total_mm"),
)

BUILTIN_FORMATS: dict[str, LineFormat] = {f.name: f for f in (WXSTA, VAISALA_WXT)}
