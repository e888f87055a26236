"""Gateway configuration: a TOML file, each key overridable by ``TANI_GATEWAY_*`` variables.

Nested keys use a double underscore: ``TANI_GATEWAY_MQTT__PASSWORD`` overrides
``[mqtt] password``. A required key has no default; an unknown key is an error, so a typo in the
file stops the gateway instead of being ignored.
"""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from gateway.config_devices import (
    BuiltinFormat,
    BuiltinMap,
    LineFormat,
    LineFormatSettings,
    RegisterMap,
    RegisterSettings,
    resolve_line_format,
    resolve_register_map,
)
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
    # Reconnect after a random wait of up to this bound, doubling from min to max.
    reconnect_min_s: float = Field(default=1.0, gt=0)
    reconnect_max_s: float = Field(default=300.0, gt=0)


class ProbeSettings(_Section):
    """A soil probe on a Modbus bus: our device id, its Modbus unit id and its register map.

    ``map`` names a built-in map; ``registers`` (``[[modbus.probes.registers]]``) describes a
    custom one instead.
    """

    device_id: Identifier
    unit: int = Field(default=1, ge=1, le=247)
    map: BuiltinMap = "seven_in_one"
    registers: list[RegisterSettings] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _check_map(self) -> ProbeSettings:
        if self.registers is not None and "map" in self.model_fields_set:
            raise ValueError("give either map (a built-in map) or registers (a custom one)")
        self.register_map()  # a custom map that repeats an address or a quantity is refused
        return self

    def register_map(self) -> RegisterMap:
        """The registers to read from this probe."""
        return resolve_register_map(self.device_id, self.map, self.registers)


class ModbusBusSettings(_Section):
    """One RS485 bus (one USB adapter) with its soil probes."""

    port: str
    baudrate: int = 4800
    interval_s: float = Field(default=60.0, gt=0)
    timeout_s: float = Field(default=1.0, gt=0)
    probes: list[ProbeSettings] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_units(self) -> ModbusBusSettings:
        units = [p.unit for p in self.probes]
        repeated = sorted({u for u in units if units.count(u) > 1})
        if repeated:
            raise ValueError(f"more than one probe on {self.port} has unit id {repeated}")
        return self


class WeatherStationSettings(_Section):
    """An ASCII weather station in auto-send mode.

    ``format`` names a built-in line format; ``line`` (``[weather.line]``) describes a custom
    one instead. A station that sends no line for ``max_silence_s`` is reported failing.
    """

    device_id: Identifier
    port: str
    baudrate: int = 9600
    format: BuiltinFormat = "wxsta"
    line: LineFormatSettings | None = None
    max_silence_s: float = Field(default=120.0, gt=0)

    @model_validator(mode="after")
    def _check_format(self) -> WeatherStationSettings:
        if self.line is not None and "format" in self.model_fields_set:
            raise ValueError("give either format (a built-in format) or line (a custom one)")
        return self

    def line_format(self) -> LineFormat:
        """How this station's lines look."""
        return resolve_line_format(self.device_id, self.format, self.line)


class Sdi12SensorSettings(_Section):
    """A TEROS-12-like soil probe on an SDI-12 bus: our device id and its SDI-12 address."""

    device_id: Identifier
    address: Annotated[str, StringConstraints(pattern=r"^[0-9a-zA-Z]$")]


class Sdi12BusSettings(_Section):
    """One USB SDI-12 adapter (a serial port) with the SDI-12 soil probes on its bus.

    ``crc`` asks for data with the SDI-12 CRC (aMC!/aCC!); ``concurrent`` measures all probes
    at once with aC! instead of one after another with aM! (unset: when there are several);
    ``retries`` repeats a data command after a corrupted or missing reply.
    """

    port: str
    baudrate: int = 9600
    interval_s: float = Field(default=60.0, gt=0)
    timeout_s: float = Field(default=1.0, gt=0)
    crc: bool = True
    concurrent: bool | None = None
    retries: int = Field(default=1, ge=0, le=5)
    sensors: list[Sdi12SensorSettings] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_addresses(self) -> Sdi12BusSettings:
        addresses = [s.address for s in self.sensors]
        repeated = sorted({a for a in addresses if addresses.count(a) > 1})
        if repeated:
            raise ValueError(f"more than one sensor on {self.port} has address {repeated}")
        return self


class PublishSettings(_Section):
    """How readings leave the outbox. Longer intervals cost fewer bytes per reading."""

    interval_s: float = Field(default=60.0, gt=0)
    batch_size: int = Field(default=500, ge=1, le=10_000)
    # After an outage the backlog goes in larger messages, beside the fresh readings.
    backlog_batch_size: int = Field(default=2000, ge=1, le=10_000)
    max_inflight_batches: int = Field(default=20, ge=1, le=1000)
    # A reading leaves the outbox when ingest confirms InfluxDB holds it ("ingest"), or, for a
    # server older than end-to-end acks, when the broker has it ("broker": a broker crash or a
    # killed ingest worker can then lose readings).
    confirm: Literal["ingest", "broker"] = "ingest"
    # Batches sent that ingest has not confirmed yet: at most this many (the rest wait on disk),
    # and each is sent again when unconfirmed after the timeout (which doubles while nothing is
    # confirmed, and returns to ack_timeout_s with the next confirmation). Ingest gathers acks
    # for up to its [acks] delay_s: interval_s x max_unconfirmed_batches must be well above it,
    # or the gateway waits for acks ingest is still gathering.
    max_unconfirmed_batches: int = Field(default=50, ge=1, le=10_000)
    # Ingest gathers acks for up to 150 s (its [acks] delay_s): the timeout is well above that.
    ack_timeout_s: float = Field(default=300.0, gt=0)
    ack_timeout_max_s: float = Field(default=3600.0, gt=0)
    payload_format: Literal["binary", "json"] = "binary"
    health_interval_s: float = Field(default=300.0, gt=0)


class OutboxSettings(_Section):
    """The on-disk queue of unsent readings."""

    # About 100 bytes a reading: 256 MiB holds months of a typical gateway's readings.
    max_bytes: int = Field(default=256 * 1024 * 1024, ge=1024 * 1024)


class ClockSettings(_Section):
    """When the wall clock is believed (the Pi has no real-time clock).

    NTP and the server's time (carried by every ack from ingest) are always believed. The
    local clock alone is believed only with ``trust_after_floor``, for a gateway with a
    battery-backed real-time clock: fake-hwclock restores a time past any floor that can be
    days behind. The floor then also moves forward with the newest reading committed. A
    real-time clock that is wrong all the same (flat battery) stamps readings wrongly until the
    server's time arrives, which the gateway then goes by (and says so in its log).
    """

    floor: date = date(2026, 11, 1)
    trust_after_floor: bool = False


class GatewayConfig(BaseSettings):
    """Everything one gateway needs."""

    model_config = SettingsConfigDict(
        env_prefix="TANI_GATEWAY_", env_nested_delimiter="__", extra="forbid"
    )

    gateway_id: Identifier
    state_dir: Path = Path("/var/lib/tani-gateway")
    mqtt: MqttSettings
    publish: PublishSettings = PublishSettings()
    outbox: OutboxSettings = OutboxSettings()
    clock: ClockSettings = ClockSettings()
    modbus: list[ModbusBusSettings] = []
    weather: list[WeatherStationSettings] = []
    sdi12: list[Sdi12BusSettings] = []

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
