"""The catalogue of quantities a Tani Hub reading may carry.

A quantity has one unit on the wire (ASCII, no locale), a physical range (what any sensor of that
kind can report at all; outside it the value is "bad") and a plausible range (what a field in
Lampung realistically sees; outside it the value is "suspect").
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Quantity:
    """One measurable quantity with its wire unit and ranges."""

    key: str
    unit: str
    label_id: str
    label_en: str
    physical_min: float
    physical_max: float
    plausible_min: float
    plausible_max: float

    def in_physical_range(self, value: float) -> bool:
        """Whether a sensor could report ``value`` at all."""
        return self.physical_min <= value <= self.physical_max

    def in_plausible_range(self, value: float) -> bool:
        """Whether ``value`` is realistic for a field."""
        return self.plausible_min <= value <= self.plausible_max


# Append new quantities at the end: the order defines their wire codes (see WIRE_CODES).
_CATALOGUE: tuple[Quantity, ...] = (
    Quantity("soil_moisture", "%", "Kelembapan tanah", "Soil moisture", 0, 100, 2, 70),
    Quantity("soil_temperature", "degC", "Suhu tanah", "Soil temperature", -40, 80, 10, 50),
    Quantity("soil_ec", "uS/cm", "Daya hantar listrik tanah", "Soil EC", 0, 20000, 0, 5000),
    Quantity("soil_ph", "pH", "pH tanah", "Soil pH", 3, 9, 3.5, 8.5),
    Quantity("soil_nitrogen", "mg/kg", "Nitrogen tanah", "Soil nitrogen", 0, 1999, 0, 1000),
    Quantity("soil_phosphorus", "mg/kg", "Fosfor tanah", "Soil phosphorus", 0, 1999, 0, 1000),
    Quantity("soil_potassium", "mg/kg", "Kalium tanah", "Soil potassium", 0, 1999, 0, 1000),
    Quantity("air_temperature", "degC", "Suhu udara", "Air temperature", -40, 60, 15, 40),
    Quantity("air_humidity", "%", "Kelembapan udara", "Air humidity", 0, 100, 20, 100),
    Quantity("air_pressure", "hPa", "Tekanan udara", "Air pressure", 300, 1100, 950, 1030),
    Quantity("wind_speed", "m/s", "Kecepatan angin", "Wind speed", 0, 60, 0, 30),
    Quantity("wind_direction", "deg", "Arah angin", "Wind direction", 0, 360, 0, 360),
    Quantity("rain", "mm", "Curah hujan", "Rainfall", 0, 500, 0, 150),
    Quantity("solar_radiation", "W/m2", "Radiasi matahari", "Solar radiation", 0, 2000, 0, 1400),
)

QUANTITIES: dict[str, Quantity] = {q.key: q for q in _CATALOGUE}

# The binary payload names a quantity by its position here. APPEND ONLY: a code never changes
# meaning, or old gateways' payloads would be read as the wrong quantity.
WIRE_CODES: tuple[str, ...] = tuple(q.key for q in _CATALOGUE)
WIRE_CODE: dict[str, int] = {key: code for code, key in enumerate(WIRE_CODES)}


class UnknownQuantityError(KeyError):
    """A quantity key that is not in the catalogue."""


def quantity(key: str) -> Quantity:
    """Return the catalogue entry for ``key``."""
    try:
        return QUANTITIES[key]
    except KeyError:
        raise UnknownQuantityError(f"unknown quantity {key!r}") from None
