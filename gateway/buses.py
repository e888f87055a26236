"""From configuration to buses: the one place that knows every driver.

Adding a protocol means a driver module in ``gateway/drivers/``, its settings model in
``gateway/config.py`` and one builder here. A driver is imported only when a bus of its kind is
configured: pymodbus alone (with the asyncio it imports) is about 5 MB of a Pi's memory that a
gateway without a Modbus bus need not carry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.config import GatewayConfig

if TYPE_CHECKING:
    from gateway.drivers.base import Bus


def build_buses(config: GatewayConfig) -> list[tuple[Bus, float]]:
    """Every configured bus with its polling interval in seconds (0: the device talks)."""
    buses: list[tuple[Bus, float]] = []
    for modbus in config.modbus:
        from gateway.drivers.modbus_soil import ModbusSoilBus, SoilProbe

        bus = ModbusSoilBus(
            modbus.port,
            [SoilProbe(p.device_id, p.unit, p.register_map()) for p in modbus.probes],
            baudrate=modbus.baudrate,
            timeout_s=modbus.timeout_s,
        )
        buses.append((bus, modbus.interval_s))
    for weather in config.weather:
        from gateway.drivers.ascii_weather import AsciiWeatherStation

        station = AsciiWeatherStation(
            weather.device_id,
            weather.port,
            baudrate=weather.baudrate,
            line_format=weather.line_format(),
            max_silence_s=weather.max_silence_s,
        )
        buses.append((station, 0.0))
    for sdi12 in config.sdi12:
        from gateway.drivers.sdi12 import Sdi12Bus, Sdi12Sensor

        adapter = Sdi12Bus(
            sdi12.port,
            [Sdi12Sensor(s.device_id, s.address) for s in sdi12.sensors],
            baudrate=sdi12.baudrate,
            timeout_s=sdi12.timeout_s,
            crc=sdi12.crc,
            concurrent=sdi12.concurrent,
            retries=sdi12.retries,
        )
        buses.append((adapter, sdi12.interval_s))
    return buses
