"""Gateway configuration: a TOML file, each key overridable by ``TANI_GATEWAY_*`` variables.

Nested keys use a double underscore: ``TANI_GATEWAY_MQTT__PASSWORD`` overrides
``[mqtt] password``. A required key has no default; an unknown key is an error, so a typo in the
file (or in a variable's name) stops the gateway instead of being ignored. The sections are
checked by :mod:`gateway.settings` (the standard library, not pydantic: the Pi's memory).
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

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
from gateway.settings import MinLength, Pattern, Range, Section, with_environment
from telemetry.reading import ID_PATTERN

Identifier = Annotated[str, Pattern(ID_PATTERN.pattern)]
ENV_PREFIX = "TANI_GATEWAY_"
Uplink = Literal["normal", "economy"]
# MQTT's keepalive is a 16-bit number of seconds.
MAX_KEEPALIVE_S = 65535
# Under "economy" the keepalive is the publish window plus this: the window's own publish keeps
# the connection alive, so a healthy link carries no PINGREQ, and the margin covers the tick
# the publish may wait for.
KEEPALIVE_GRACE_S = 60


@dataclasses.dataclass(frozen=True, slots=True)
class UplinkProfile:
    """What one ``[publish] uplink`` setting gives the keys the configuration does not set."""

    interval_s: float  # fresh readings leave in one batch this often: the most they wait
    health_interval_s: float
    keepalive_s: int | None  # None: interval_s + KEEPALIVE_GRACE_S


# Measured by `tani bench gateway` for one 7-in-1 probe and one weather station read every
# 5 minutes, over TLS (README, "What a field's uplink costs a month"): "economy" costs about a
# tenth of the bytes of "normal", for readings that reach the server up to 30 minutes later.
UPLINKS: dict[str, UplinkProfile] = {
    "normal": UplinkProfile(interval_s=60.0, health_interval_s=300.0, keepalive_s=60),
    "economy": UplinkProfile(interval_s=1800.0, health_interval_s=3600.0, keepalive_s=None),
}


class MqttSettings(Section):
    """How to reach the broker. The username is the gateway's own MQTT account.

    ``keepalive_s`` unset follows ``[publish] uplink``: 60 s, or under "economy" the publish
    window plus a minute. ``ca_file`` unset trusts the system's ~140 root certificates, which
    cost the Pi 1.1 MB of memory: name the broker's root alone.
    """

    host: str = "127.0.0.1"
    port: Annotated[int, Range(ge=1, le=65535)] = 1883
    username: str
    password: str
    tls: bool = False
    ca_file: Path | None = None
    keepalive_s: Annotated[int, Range(ge=5, le=MAX_KEEPALIVE_S)] = 60
    # Reconnect after a random wait of up to this bound, doubling from min to max.
    reconnect_min_s: Annotated[float, Range(gt=0)] = 1.0
    reconnect_max_s: Annotated[float, Range(gt=0)] = 300.0


class ProbeSettings(Section):
    """A soil probe on a Modbus bus: our device id, its Modbus unit id and its register map.

    ``map`` names a built-in map; ``registers`` (``[[modbus.probes.registers]]``) describes a
    custom one instead.
    """

    device_id: Identifier
    unit: Annotated[int, Range(ge=1, le=247)] = 1
    map: BuiltinMap = "seven_in_one"
    registers: Annotated[list[RegisterSettings] | None, MinLength(1)] = None

    def _check(self) -> None:
        if self.registers is not None and "map" in self.fields_set:
            raise ValueError("give either map (a built-in map) or registers (a custom one)")
        self.register_map()  # a custom map that repeats an address or a quantity is refused

    def register_map(self) -> RegisterMap:
        """The registers to read from this probe."""
        return resolve_register_map(self.device_id, self.map, self.registers)


class ModbusBusSettings(Section):
    """One RS485 bus (one USB adapter) with its soil probes."""

    port: str
    baudrate: int = 4800
    interval_s: Annotated[float, Range(gt=0)] = 60.0
    timeout_s: Annotated[float, Range(gt=0)] = 1.0
    probes: Annotated[list[ProbeSettings], MinLength(1)]

    def _check(self) -> None:
        units = [p.unit for p in self.probes]
        repeated = sorted({u for u in units if units.count(u) > 1})
        if repeated:
            raise ValueError(f"more than one probe on {self.port} has unit id {repeated}")


class WeatherStationSettings(Section):
    """An ASCII weather station in auto-send mode.

    ``format`` names a built-in line format; ``line`` (``[weather.line]``) describes a custom
    one instead. A station that sends no line for ``max_silence_s`` is reported failing.
    """

    device_id: Identifier
    port: str
    baudrate: int = 9600
    format: BuiltinFormat = "wxsta"
    line: LineFormatSettings | None = None
    max_silence_s: Annotated[float, Range(gt=0)] = 120.0

    def _check(self) -> None:
        if self.line is not None and "format" in self.fields_set:
            raise ValueError("give either format (a built-in format) or line (a custom one)")

    def line_format(self) -> LineFormat:
        """How this station's lines look."""
        return resolve_line_format(self.device_id, self.format, self.line)


class Sdi12SensorSettings(Section):
    """A TEROS-12-like soil probe on an SDI-12 bus: our device id and its SDI-12 address."""

    device_id: Identifier
    address: Annotated[str, Pattern(r"^[0-9a-zA-Z]$")]


class Sdi12BusSettings(Section):
    """One USB SDI-12 adapter (a serial port) with the SDI-12 soil probes on its bus.

    ``crc`` asks for data with the SDI-12 CRC (aMC!/aCC!); ``concurrent`` measures all probes
    at once with aC! instead of one after another with aM! (unset: when there are several);
    ``retries`` repeats a data command after a corrupted or missing reply.
    """

    port: str
    baudrate: int = 9600
    interval_s: Annotated[float, Range(gt=0)] = 60.0
    timeout_s: Annotated[float, Range(gt=0)] = 1.0
    crc: bool = True
    concurrent: bool | None = None
    retries: Annotated[int, Range(ge=0, le=5)] = 1
    sensors: Annotated[list[Sdi12SensorSettings], MinLength(1)]

    def _check(self) -> None:
        addresses = [s.address for s in self.sensors]
        repeated = sorted({a for a in addresses if addresses.count(a) > 1})
        if repeated:
            raise ValueError(f"more than one sensor on {self.port} has address {repeated}")


class PublishSettings(Section):
    """How readings leave the outbox. Longer intervals cost fewer bytes per reading.

    ``uplink`` trades delay for bytes, as a Telegraf ``flush_interval`` does: "normal" publishes
    fresh readings every minute and a health report every 5 minutes; "economy" gathers them for
    30 minutes into one batch, reports health hourly and keeps the connection alive with the
    window's own publish (see :data:`UPLINKS`). ``interval_s`` and ``health_interval_s`` (and
    ``[mqtt] keepalive_s``) given explicitly win over the uplink's. The connection stays up
    between windows: a new TLS connection costs more bytes than an hour of economy traffic, and
    an idle one nothing. Nothing waits in memory: readings are committed to the outbox as they
    are read, and a window changes only when they leave it.
    """

    uplink: Uplink = "normal"
    interval_s: Annotated[float, Range(gt=0)] = UPLINKS["normal"].interval_s
    batch_size: Annotated[int, Range(ge=1, le=10_000)] = 500
    # After an outage the backlog goes in larger messages, beside the fresh readings.
    backlog_batch_size: Annotated[int, Range(ge=1, le=10_000)] = 2000
    max_inflight_batches: Annotated[int, Range(ge=1, le=1000)] = 20
    # A reading leaves the outbox when ingest confirms InfluxDB holds it ("ingest"), or, for a
    # server older than end-to-end acks, when the broker has it ("broker": a broker crash or a
    # killed ingest worker can then lose readings).
    confirm: Literal["ingest", "broker"] = "ingest"
    # Batches sent that ingest has not confirmed yet: at most this many (the rest wait on disk),
    # and each is sent again when unconfirmed after the timeout (which doubles while nothing is
    # confirmed, and returns to ack_timeout_s with the next confirmation). Ingest gathers acks
    # for up to its [acks] delay_s: interval_s x max_unconfirmed_batches must be well above it,
    # or the gateway waits for acks ingest is still gathering.
    max_unconfirmed_batches: Annotated[int, Range(ge=1, le=10_000)] = 50
    # Ingest gathers acks for up to 150 s (its [acks] delay_s) after a batch arrives, whatever
    # the window: the timeout is well above that, and starts when the broker has the batch.
    ack_timeout_s: Annotated[float, Range(gt=0)] = 300.0
    ack_timeout_max_s: Annotated[float, Range(gt=0)] = 3600.0
    payload_format: Literal["binary", "json"] = "binary"
    health_interval_s: Annotated[float, Range(gt=0)] = UPLINKS["normal"].health_interval_s

    def _check(self) -> None:
        profile = UPLINKS[self.uplink]
        if "interval_s" not in self.fields_set:
            self.interval_s = profile.interval_s
        if "health_interval_s" not in self.fields_set:
            self.health_interval_s = profile.health_interval_s

    def keepalive_s(self) -> int:
        """The MQTT keepalive this uplink asks for when ``[mqtt] keepalive_s`` is not set."""
        keepalive = UPLINKS[self.uplink].keepalive_s
        if keepalive is None:
            keepalive = math.ceil(self.interval_s) + KEEPALIVE_GRACE_S
        return min(keepalive, MAX_KEEPALIVE_S)


class OutboxSettings(Section):
    """The on-disk queue of unsent readings."""

    # About 100 bytes a reading: 256 MiB holds months of a typical gateway's readings.
    max_bytes: Annotated[int, Range(ge=1024 * 1024)] = 256 * 1024 * 1024


class ClockSettings(Section):
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


class GatewayConfig(Section):
    """Everything one gateway needs."""

    gateway_id: Identifier
    state_dir: Path = Path("/var/lib/tani-gateway")
    mqtt: MqttSettings
    publish: PublishSettings = dataclasses.field(default_factory=PublishSettings)
    outbox: OutboxSettings = dataclasses.field(default_factory=OutboxSettings)
    clock: ClockSettings = dataclasses.field(default_factory=ClockSettings)
    modbus: list[ModbusBusSettings] = dataclasses.field(default_factory=list)
    weather: list[WeatherStationSettings] = dataclasses.field(default_factory=list)
    sdi12: list[Sdi12BusSettings] = dataclasses.field(default_factory=list)

    def _check(self) -> None:
        if "keepalive_s" not in self.mqtt.fields_set:
            self.mqtt = dataclasses.replace(self.mqtt, keepalive_s=self.publish.keepalive_s())


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> GatewayConfig:
    """Read and check a gateway TOML file; ``TANI_GATEWAY_*`` variables win over it.

    Raises ConfigError naming every bad key, OSError or tomllib.TOMLDecodeError (a ValueError)
    when the file cannot be read.
    """
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    data = with_environment(data, ENV_PREFIX, os.environ if environ is None else environ)
    return GatewayConfig(**data)
