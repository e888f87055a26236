"""Register maps of Modbus RTU soil probes: which holding register holds what, as data.

Built-in maps:

- ``seven_in_one``: the common RS485 "7-in-1" probe, registers 0x0000-0x0006 (moisture x0.1 %,
  temperature x0.1 degC signed, EC uS/cm, pH x0.1, N, P, K mg/kg).
- ``jxct``: JXCT's JXBS-3001 7-in-1 probe, from its RS485 user manual (v2.0): pH 0x0006 x0.01,
  moisture 0x0012 x0.1 %, temperature 0x0013 x0.1 degC (two's complement), EC 0x0015 uS/cm,
  N 0x001E, P 0x001F, K 0x0020 mg/kg. Its factory defaults are unit 1 at 9600 baud.

A map is read with as few function 03 transactions as it can: one read spanning every used
address when that span is short, otherwise several blocks. An unused register inside a read
costs two bytes on the wire; a transaction costs a request, a reply header, a CRC and the
device's turnaround, so short gaps are cheaper to read through than to skip.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from gateway.drivers.base import DeviceReadError

# Function 03 may ask for at most 125 registers (a 250-byte reply).
MAX_REGISTERS_PER_READ = 125
# Up to this many registers (used or not) are read in one transaction.
DEFAULT_MAX_SPAN = 40


@dataclass(frozen=True, slots=True)
class RegisterField:
    """One 16-bit holding register and how its raw count becomes a quantity."""

    address: int
    quantity: str
    scale: float
    signed: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.address <= 0xFFFF:
            raise ValueError(f"register address {self.address} is outside 0..0xFFFF")
        if self.scale == 0 or not math.isfinite(self.scale):
            raise ValueError(f"scale of {self.quantity} must be finite and non-zero")

    def convert(self, raw: int) -> float:
        """Raw 16-bit register count to the quantity's unit."""
        if self.signed and raw >= 0x8000:
            raw -= 0x10000
        return round(raw * self.scale, 6)


@dataclass(frozen=True, slots=True)
class ReadBlock:
    """One function 03 read: ``count`` registers from ``start``."""

    start: int
    count: int


@dataclass(frozen=True, slots=True)
class RegisterMap:
    """The registers of one probe model, and how to read them in few transactions."""

    name: str
    fields: tuple[RegisterField, ...]
    max_span: int = DEFAULT_MAX_SPAN

    def __post_init__(self) -> None:
        if not self.fields:
            raise ValueError(f"register map {self.name!r} has no registers")
        if not 1 <= self.max_span <= MAX_REGISTERS_PER_READ:
            raise ValueError(f"max_span must be 1..{MAX_REGISTERS_PER_READ}")
        for what, values in (
            ("address", [f.address for f in self.fields]),
            ("quantity", [f.quantity for f in self.fields]),
        ):
            repeated = sorted({str(v) for v in values if values.count(v) > 1})
            if repeated:
                raise ValueError(f"register map {self.name!r} repeats {what} {', '.join(repeated)}")

    def blocks(self) -> tuple[ReadBlock, ...]:
        """The reads that cover every register of the map (see :func:`plan_reads`)."""
        return plan_reads((f.address for f in self.fields), self.max_span)

    def decode(self, registers: Mapping[int, int]) -> dict[str, float]:
        """Convert the registers read (address -> raw value) into quantity values."""
        values = {}
        for f in self.fields:
            raw = registers.get(f.address)
            if raw is None:
                raise DeviceReadError("short_reply", f"register 0x{f.address:04X} was not read")
            if not 0 <= raw <= 0xFFFF:
                raise DeviceReadError("bad_register", f"register value {raw} is not 16-bit")
            values[f.quantity] = f.convert(raw)
        return values


def plan_reads(addresses: Iterable[int], max_span: int = DEFAULT_MAX_SPAN) -> tuple[ReadBlock, ...]:
    """Fewest reads, each at most ``max_span`` registers long, covering every address.

    Greedy from the lowest address: a block grows while the next address still fits in it,
    which is optimal for covering points with intervals of a fixed length.
    """
    blocks: list[ReadBlock] = []
    start = last = None
    for address in sorted(set(addresses)):
        if start is not None and last is not None and address - start < max_span:
            last = address
            continue
        if start is not None and last is not None:
            blocks.append(ReadBlock(start, last - start + 1))
        start = last = address
    if start is not None and last is not None:
        blocks.append(ReadBlock(start, last - start + 1))
    return tuple(blocks)


def block_registers(block: ReadBlock, registers: Sequence[int]) -> dict[int, int]:
    """Address -> raw value of one block's reply; a reply with too few registers is an error."""
    if len(registers) < block.count:
        raise DeviceReadError(
            "short_reply",
            f"expected {block.count} registers from 0x{block.start:04X}, got {len(registers)}",
        )
    return {block.start + i: raw for i, raw in enumerate(registers[: block.count])}


SEVEN_IN_ONE = RegisterMap(
    "seven_in_one",
    (
        RegisterField(0x0000, "soil_moisture", 0.1),
        RegisterField(0x0001, "soil_temperature", 0.1, signed=True),
        RegisterField(0x0002, "soil_ec", 1.0),
        RegisterField(0x0003, "soil_ph", 0.1),
        RegisterField(0x0004, "soil_nitrogen", 1.0),
        RegisterField(0x0005, "soil_phosphorus", 1.0),
        RegisterField(0x0006, "soil_potassium", 1.0),
    ),
)

# JXBS-3001 7-in-1 user manual v2.0 (JXCT); the registers between these read as other values
# or zero and are read through, since 0x0006..0x0020 is one 27-register read.
JXCT = RegisterMap(
    "jxct",
    (
        RegisterField(0x0006, "soil_ph", 0.01),
        RegisterField(0x0012, "soil_moisture", 0.1),
        RegisterField(0x0013, "soil_temperature", 0.1, signed=True),
        RegisterField(0x0015, "soil_ec", 1.0),
        RegisterField(0x001E, "soil_nitrogen", 1.0),
        RegisterField(0x001F, "soil_phosphorus", 1.0),
        RegisterField(0x0020, "soil_potassium", 1.0),
    ),
)

BUILTIN_MAPS: dict[str, RegisterMap] = {m.name: m for m in (SEVEN_IN_ONE, JXCT)}
