"""Quantity keys and physical ranges the emulated devices report.

These mirror the project's telemetry catalogue (same keys, units and physical ranges). They are
repeated here rather than imported so the emulator stands alone; a unit test checks that the two
agree.
"""

from __future__ import annotations

from dataclasses import dataclass

SOIL_MOISTURE = "soil_moisture"
SOIL_TEMPERATURE = "soil_temperature"
SOIL_EC = "soil_ec"
SOIL_PH = "soil_ph"
SOIL_NITROGEN = "soil_nitrogen"
SOIL_PHOSPHORUS = "soil_phosphorus"
SOIL_POTASSIUM = "soil_potassium"
AIR_TEMPERATURE = "air_temperature"
AIR_HUMIDITY = "air_humidity"
AIR_PRESSURE = "air_pressure"
WIND_SPEED = "wind_speed"
WIND_DIRECTION = "wind_direction"
RAIN = "rain"
SOLAR_RADIATION = "solar_radiation"

# Not catalogue quantities: extra raw fields kept in the weather station's history.
RAIN_TIP_COUNT = "rain_tip_count"
SAMPLE_SEQ = "seq"


@dataclass(frozen=True, slots=True)
class SimQuantity:
    """A quantity the emulator produces, with the range any real sensor of that kind covers."""

    key: str
    unit: str
    physical_min: float
    physical_max: float

    def clamp(self, value: float) -> float:
        """Return ``value`` forced into the physical range."""
        return min(self.physical_max, max(self.physical_min, value))


_CATALOGUE: tuple[SimQuantity, ...] = (
    SimQuantity(SOIL_MOISTURE, "%", 0, 100),
    SimQuantity(SOIL_TEMPERATURE, "degC", -40, 80),
    SimQuantity(SOIL_EC, "uS/cm", 0, 20000),
    SimQuantity(SOIL_PH, "pH", 3, 9),
    SimQuantity(SOIL_NITROGEN, "mg/kg", 0, 1999),
    SimQuantity(SOIL_PHOSPHORUS, "mg/kg", 0, 1999),
    SimQuantity(SOIL_POTASSIUM, "mg/kg", 0, 1999),
    SimQuantity(AIR_TEMPERATURE, "degC", -40, 60),
    SimQuantity(AIR_HUMIDITY, "%", 0, 100),
    SimQuantity(AIR_PRESSURE, "hPa", 300, 1100),
    SimQuantity(WIND_SPEED, "m/s", 0, 60),
    SimQuantity(WIND_DIRECTION, "deg", 0, 360),
    SimQuantity(RAIN, "mm", 0, 500),
    SimQuantity(SOLAR_RADIATION, "W/m2", 0, 2000),
)

SIM_QUANTITIES: dict[str, SimQuantity] = {q.key: q for q in _CATALOGUE}
