"""Golden cases for register maps and line formats in the gateway's TOML configuration.

Each folder of ``golden/gateway_config`` holds a ``gateway.toml`` and either ``error.txt`` (text
the start-up error must contain) or ``expected.json`` (what the gateway builds from it, and, when
``lines.txt`` is there, how the first weather station's format parses those lines).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from gateway.buses import build_buses
from gateway.config import GatewayConfig, load_config
from gateway.drivers.ascii_weather import AsciiWeatherStation
from gateway.drivers.modbus_soil import ModbusSoilBus
from gateway.drivers.register_map import JXCT
from gateway.drivers.weather_lines import VAISALA_WXT, WeatherLineError, parse_line
from gateway.settings import ConfigError

CASES = Path(__file__).parent / "golden" / "gateway_config"


def built(config: GatewayConfig) -> dict[str, Any]:
    """What the drivers get from the configuration, as plain data."""
    return {
        "modbus": [
            {
                "port": bus.port,
                "baudrate": bus.baudrate,
                "probes": [
                    {
                        "device_id": p.device_id,
                        "unit": p.unit,
                        "map": p.register_map().name,
                        "reads": [[b.start, b.count] for b in p.register_map().blocks()],
                        "registers": [dataclasses.asdict(f) for f in p.register_map().fields],
                    }
                    for p in bus.probes
                ],
            }
            for bus in config.modbus
        ],
        "weather": [
            {
                "device_id": w.device_id,
                "baudrate": w.baudrate,
                "max_silence_s": w.max_silence_s,
                "format": dataclasses.asdict(w.line_format()),
            }
            for w in config.weather
        ],
    }


def parsed(config: GatewayConfig, lines: bytes) -> list[dict[str, Any]]:
    """Each line through the first station's parser: the sample, or the refusal."""
    fmt = config.weather[0].line_format()
    out: list[dict[str, Any]] = []
    for line in lines.splitlines(keepends=True):
        try:
            out.append(dataclasses.asdict(parse_line(line, fmt)))
        except WeatherLineError as exc:
            out.append({"error": str(exc)})
    return out


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir()))
def test_golden_case(case: str) -> None:
    folder = CASES / case
    error = folder / "error.txt"
    if error.exists():
        with pytest.raises(ConfigError) as info:
            load_config(folder / "gateway.toml")
        assert error.read_text().strip() in str(info.value)
        return
    config = load_config(folder / "gateway.toml")
    result = built(config)
    if (folder / "lines.txt").exists():
        result["parsed"] = parsed(config, (folder / "lines.txt").read_bytes())
    expected = json.loads((folder / "expected.json").read_text())
    assert json.loads(json.dumps(result)) == expected


def test_buses_get_the_configured_maps_and_formats() -> None:
    config = load_config(CASES / "jxct_and_custom_maps" / "gateway.toml")
    config.weather = load_config(CASES / "vaisala_station" / "gateway.toml").weather
    buses = [bus for bus, _ in build_buses(config)]
    soil = next(b for b in buses if isinstance(b, ModbusSoilBus))
    station = next(b for b in buses if isinstance(b, AsciiWeatherStation))
    assert [p.register_map.name for p in soil.probes] == ["seven_in_one", "jxct", "custom:soil-3"]
    assert soil.probes[1].register_map is JXCT
    assert station.line_format is VAISALA_WXT
