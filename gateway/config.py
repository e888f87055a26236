"""Gateway configuration: a TOML file, each key overridable by ``TANI_GATEWAY_*`` variables.

Nested keys use a double underscore: ``TANI_GATEWAY_MQTT__PASSWORD`` overrides
``[mqtt] password``. A required key has no default; an unknown key is an error, so a typo in the
file stops the gateway instead of being ignored.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from telemetry.reading import ID_PATTERN

Identifier = Annotated[str, StringConstraints(pattern=ID_PATTERN.pattern)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MqttSettings(_Section):
    """How to reach the broker. The username is the gateway's own MQTT account."""

    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str
    password: str
    tls: bool = False
    ca_file: Path | None = None
    keepalive_s: int = Field(default=60, ge=5)


class ProbeSettings(_Section):
    """A soil probe on a Modbus bus: our device id and its Modbus unit id."""

    device_id: Identifier
    unit: int = Field(default=1, ge=1, le=247)


class ModbusBusSettings(_Section):
    """One RS485 bus (one USB adapter) with its soil probes."""

    port: str
    baudrate: int = 4800
    interval_s: float = Field(default=60.0, gt=0)
    timeout_s: float = Field(default=1.0, gt=0)
    probes: list[ProbeSettings] = Field(min_length=1)


class WeatherStationSettings(_Section):
    """An ASCII weather station in auto-send mode."""

    device_id: Identifier
    port: str
    baudrate: int = 9600


class PublishSettings(_Section):
    """How readings leave the outbox."""

    interval_s: float = Field(default=1.0, gt=0)
    batch_size: int = Field(default=500, ge=1, le=10_000)
    max_inflight_batches: int = Field(default=20, ge=1)


class GatewayConfig(BaseSettings):
    """Everything one gateway needs."""

    model_config = SettingsConfigDict(
        env_prefix="TANI_GATEWAY_", env_nested_delimiter="__", extra="forbid"
    )

    gateway_id: Identifier
    state_dir: Path = Path("/var/lib/tani-gateway")
    mqtt: MqttSettings
    publish: PublishSettings = PublishSettings()
    modbus: list[ModbusBusSettings] = []
    weather: list[WeatherStationSettings] = []

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment variables win over the TOML file."""
        return env_settings, init_settings


def load_config(path: Path) -> GatewayConfig:
    """Read and check a gateway TOML file (pydantic.ValidationError names any bad key)."""
    with path.open("rb") as handle:
        return GatewayConfig(**tomllib.load(handle))
