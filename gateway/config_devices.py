"""The device-data parts of the gateway configuration: custom register maps and line formats.

Each model checks its keys and builds the driver's own frozen description (``build()``), so a
bad map or format stops the gateway at start-up with the key named, never at the first poll.
"""

from __future__ import annotations

from typing import Annotated, Literal

from gateway.drivers.register_map import BUILTIN_MAPS, RegisterField, RegisterMap
from gateway.drivers.weather_lines import (
    BUILTIN_FORMATS,
    Checksum,
    Layout,
    LineField,
    LineFormat,
    RainField,
    RainMode,
    Slot,
)
from gateway.settings import MinLength, Range, Section
from telemetry.quantities import QUANTITIES

# Names of the built-in maps and formats (a unit test checks they match the drivers' tables).
BuiltinMap = Literal["seven_in_one", "jxct"]
BuiltinFormat = Literal["wxsta", "vaisala_wxt"]


def _catalogue_quantity(quantity: str) -> str:
    if quantity not in QUANTITIES:
        raise ValueError(f"unknown quantity {quantity!r}; known: {', '.join(sorted(QUANTITIES))}")
    return quantity


class RegisterSettings(Section, frozen=True):
    """One holding register of a custom map: value = raw count * scale."""

    quantity: str
    address: Annotated[int, Range(ge=0, le=0xFFFF)]
    scale: float = 1.0
    signed: bool = False

    def _check(self) -> None:
        _catalogue_quantity(self.quantity)
        self.build()  # RegisterField refuses a zero or infinite scale

    def build(self) -> RegisterField:
        """The driver's description of this register."""
        return RegisterField(self.address, self.quantity, self.scale, self.signed)


class _SlotSettings(Section, frozen=True):
    """Where an item is: ``key`` on KEY=VALUE lines or ``position`` (0 = first after the
    sentence), with the unit text that follows its number, if any."""

    key: Annotated[str | None, MinLength(1)] = None
    position: Annotated[int | None, Range(ge=0)] = None
    unit: str = ""

    def slot(self) -> Slot:
        """The driver's description of where the item is."""
        return Slot(key=self.key, position=self.position, unit=self.unit)

    def _check(self) -> None:
        self.slot()  # exactly one of key and position


class WeatherFieldSettings(_SlotSettings):
    """One item that becomes a catalogue quantity: value = number * scale."""

    quantity: str
    scale: Annotated[float, Range(gt=0)] = 1.0

    def _check(self) -> None:
        super()._check()
        if _catalogue_quantity(self.quantity) == "rain":
            raise ValueError("rain has its own table: [weather.line.rain]")

    def build(self) -> LineField:
        """The driver's description of this item."""
        return LineField(self.quantity, self.slot(), self.scale)


class RainSettings(_SlotSettings):
    """The rain item: a cumulative tip counter, a cumulative total in mm, or mm per line."""

    mode: RainMode = "tip_counter"
    mm_per_tip: Annotated[float | None, Range(gt=0)] = None
    modulus: Annotated[int | None, Range(ge=2)] = None

    def _check(self) -> None:
        super()._check()
        if self.mode != "tip_counter" and {"mm_per_tip", "modulus"} & self.fields_set:
            raise ValueError("mm_per_tip and modulus apply to mode = 'tip_counter' only")

    def build(self) -> RainField:
        """The driver's description of the rain item (0.2 mm a tip, 16-bit counter by default)."""
        return RainField(
            self.slot(),
            self.mode,
            mm_per_tip=self.mm_per_tip or 0.2,
            modulus=self.modulus or 65536,
        )


class SequenceSettings(_SlotSettings):
    """The station's sample counter, if its lines carry one."""


class LineFormatSettings(Section, frozen=True):
    """A station line format described in the configuration (``[weather.line]``)."""

    sentence: Annotated[str, MinLength(1)]
    layout: Layout = "key_value"
    separator: Annotated[str, MinLength(1)] = ","
    checksum: Checksum = "none"
    invalid_marker: str = ""
    fields: Annotated[list[WeatherFieldSettings], MinLength(1)]
    rain: RainSettings | None = None
    sequence: SequenceSettings | None = None

    def _check(self) -> None:
        self.build("check")  # LineFormat refuses repeated slots, a bad sentence, ...

    def build(self, name: str) -> LineFormat:
        """The driver's description of the format, named after its station."""
        return LineFormat(
            name=name,
            sentence=self.sentence,
            fields=tuple(f.build() for f in self.fields),
            layout=self.layout,
            separator=self.separator,
            checksum=self.checksum,
            rain=self.rain.build() if self.rain is not None else None,
            sequence=self.sequence.slot() if self.sequence is not None else None,
            invalid_marker=self.invalid_marker,
        )


def resolve_register_map(
    device_id: str, name: BuiltinMap, registers: list[RegisterSettings] | None
) -> RegisterMap:
    """A probe's map: its custom registers if it has them, else the built-in map ``name``."""
    if registers:
        return RegisterMap(f"custom:{device_id}", tuple(r.build() for r in registers))
    return BUILTIN_MAPS[name]


def resolve_line_format(
    device_id: str, name: BuiltinFormat, line: LineFormatSettings | None
) -> LineFormat:
    """A station's line format: its custom ``line`` if given, else the built-in ``name``."""
    if line is not None:
        return line.build(f"custom:{device_id}")
    return BUILTIN_FORMATS[name]
