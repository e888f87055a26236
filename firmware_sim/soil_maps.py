"""Register maps the emulated soil probes serve (function 03, holding registers).

``seven_in_one``, the common RS485 "7-in-1" probe, as its datasheets give it:

====== ==================== ========== ===================
addr   quantity             raw        range (raw)
====== ==================== ========== ===================
0x0000 soil moisture        x0.1 %     0..1000
0x0001 soil temperature     x0.1 degC  -400..800 (signed)
0x0002 soil EC              uS/cm      0..20000
0x0003 soil pH              x0.1       30..90
0x0004 nitrogen             mg/kg      0..1999
0x0005 phosphorus           mg/kg      0..1999
0x0006 potassium            mg/kg      0..1999
====== ==================== ========== ===================

``jxct``, JXCT's JXBS-3001 7-in-1 probe, from its RS485 user manual (v2.0):

====== ==================== ========== ===================
addr   quantity             raw        range (raw)
====== ==================== ========== ===================
0x0006 soil pH              x0.01      300..900
0x0012 soil moisture        x0.1 %     0..1000
0x0013 soil temperature     x0.1 degC  -400..800 (signed)
0x0015 soil EC              uS/cm      0..10000
0x001E nitrogen             mg/kg      0..1999
0x001F phosphorus           mg/kg      0..1999
0x0020 potassium            mg/kg      0..1999
====== ==================== ========== ===================

The emulated JXCT probe answers the whole span 0x0006..0x0020; registers it does not map read 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware_sim import quantities as q

SEVEN_IN_ONE = "seven_in_one"
JXCT = "jxct"


@dataclass(frozen=True, slots=True)
class ProbeRegister:
    """One holding register: engineering value = raw / divisor."""

    address: int
    key: str
    divisor: int
    raw_min: int
    raw_max: int
    signed: bool = False

    def encode(self, value: float) -> int:
        """Engineering value -> 16-bit register (two's complement if signed), clamped."""
        raw = min(self.raw_max, max(self.raw_min, round(value * self.divisor)))
        return raw & 0xFFFF

    def decode(self, register: int) -> float:
        """16-bit register -> engineering value."""
        raw = register - 0x10000 if self.signed and register & 0x8000 else register
        return raw / self.divisor if self.divisor != 1 else float(raw)


@dataclass(frozen=True, slots=True)
class ProbeMap:
    """The registers one probe model serves."""

    name: str
    registers: tuple[ProbeRegister, ...]

    @property
    def first(self) -> int:
        """Lowest address served."""
        return min(r.address for r in self.registers)

    @property
    def span(self) -> int:
        """How many registers, from :attr:`first`, the probe answers."""
        return max(r.address for r in self.registers) - self.first + 1

    def at(self, address: int) -> ProbeRegister | None:
        """The register at ``address``, if the map has one there."""
        for reg in self.registers:
            if reg.address == address:
                return reg
        return None


PROBE_MAPS: dict[str, ProbeMap] = {
    m.name: m
    for m in (
        ProbeMap(
            SEVEN_IN_ONE,
            (
                ProbeRegister(0x0000, q.SOIL_MOISTURE, 10, 0, 1000),
                ProbeRegister(0x0001, q.SOIL_TEMPERATURE, 10, -400, 800, signed=True),
                ProbeRegister(0x0002, q.SOIL_EC, 1, 0, 20000),
                ProbeRegister(0x0003, q.SOIL_PH, 10, 30, 90),
                ProbeRegister(0x0004, q.SOIL_NITROGEN, 1, 0, 1999),
                ProbeRegister(0x0005, q.SOIL_PHOSPHORUS, 1, 0, 1999),
                ProbeRegister(0x0006, q.SOIL_POTASSIUM, 1, 0, 1999),
            ),
        ),
        ProbeMap(
            JXCT,
            (
                ProbeRegister(0x0006, q.SOIL_PH, 100, 300, 900),
                ProbeRegister(0x0012, q.SOIL_MOISTURE, 10, 0, 1000),
                ProbeRegister(0x0013, q.SOIL_TEMPERATURE, 10, -400, 800, signed=True),
                ProbeRegister(0x0015, q.SOIL_EC, 1, 0, 10000),
                ProbeRegister(0x001E, q.SOIL_NITROGEN, 1, 0, 1999),
                ProbeRegister(0x001F, q.SOIL_PHOSPHORUS, 1, 0, 1999),
                ProbeRegister(0x0020, q.SOIL_POTASSIUM, 1, 0, 1999),
            ),
        ),
    )
}
