"""Ingest configuration: a TOML file, each key overridable by ``TANI_INGEST_*`` variables.

Nested keys use a double underscore: ``TANI_INGEST_INFLUX__URL`` overrides ``[influx] url``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from storage.rollups import DURATION_PATTERN


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


# How long the broker keeps a shared-group worker's session after it went away (seconds); why
# so short: see MqttSettings.session_expiry.
SHARED_SESSION_EXPIRY_S = 120


class MqttSettings(_Section):
    """The broker, and ingest's own persistent session on it."""

    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str
    password: str
    tls: bool = False
    ca_file: Path | None = None
    keepalive_s: int = Field(default=60, ge=5)
    # A fixed client id plus a session that outlives a restart: the broker keeps our messages.
    # None: a week for a worker alone; 120 s in a shared group, because Mosquitto goes on giving
    # a dead worker's session its share until the session expires. Gateways send again what
    # ingest did not confirm, so a session that expires loses nothing.
    client_id: str = "tani-ingest"
    session_expiry_s: int | None = Field(default=None, ge=0)
    # How many unacknowledged messages the broker may hand us at once: the back-pressure knob.
    receive_maximum: int = Field(default=200, ge=1, le=65535)
    # Workers with the same group share one MQTT v5 shared subscription ($share/<group>/...):
    # the broker gives each message to one of them. Each worker needs its own client_id.
    shared_group: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]+$")

    @property
    def session_expiry(self) -> int:
        """The session expiry interval to ask for, in seconds."""
        if self.session_expiry_s is not None:
            return self.session_expiry_s
        return SHARED_SESSION_EXPIRY_S if self.shared_group else 7 * 86400


class InfluxSettings(_Section):
    """Where readings are written: InfluxDB 1.x, 2.x or 3.x (``/ping`` says which)."""

    url: str = "http://127.0.0.1:8086"
    # The InfluxQL database every query names (on 2.x through a DBRP mapping, on 3.x itself).
    database: str = "tani"
    username: str | None = None
    password: str | None = None
    # 2.x/3.x API token; on 1.8 it defaults to "username:password".
    token: str | None = None
    org: str | None = None  # 2.x only
    bucket: str | None = None  # default: the database (1.8: "database/rp")
    # Create database, retention policies and continuous queries (1.x), or buckets and DBRP
    # mappings (2.x), at start-up. Turn off when the token may only write.
    create: bool = True
    # How long raw readings stay (e.g. "400d"); unset leaves the server's retention alone.
    retention: str | None = Field(default=None, pattern=DURATION_PATTERN)
    rollup_retention: str = Field(default="INF", pattern=DURATION_PATTERN)
    # Where daily rollups start: local midnight (WIB 7, WITA 8, WIT 9).
    utc_offset_h: int = Field(default=7, ge=-12, le=14)


class BatchSettings(_Section):
    """How readings are grouped into InfluxDB writes."""

    max_readings: int = Field(default=5000, ge=1)
    # Writes in flight at once; InfluxDB uses more of its cores with two or more.
    writers: int = Field(default=2, ge=1, le=8)
    # A batch is written as soon as no message waits (see Ingest._collect); this only caps how
    # long a stream that never pauses is gathered into one write.
    max_delay_s: float = Field(default=0.5, gt=0)
    retry_max_s: float = Field(default=30.0, gt=0)


class AckSettings(_Section):
    """End-to-end acks to gateways (see ingest.acks)."""

    # An ack waits this long for more readings of its gateway (0: one ack per write). Keep it
    # well below the gateways' [publish] ack_timeout_s (300 s by default).
    delay_s: float = Field(default=150.0, ge=0)
    max_pending: int = Field(default=5000, ge=1)


class IngestConfig(BaseSettings):
    """Everything the ingest service needs."""

    model_config = SettingsConfigDict(
        env_prefix="TANI_INGEST_", env_nested_delimiter="__", extra="forbid"
    )

    mqtt: MqttSettings
    influx: InfluxSettings = InfluxSettings()
    batch: BatchSettings = BatchSettings()
    acks: AckSettings = AckSettings()
    registry_url: str = "sqlite:///.tani/registry.sqlite3"
    # The last-value store ingest keeps and the API reads (storage.last_values); unset: a
    # SQLite file beside a SQLite registry, else a table in the registry's database.
    last_values_url: str | None = None
    deadletters_path: Path = Path(".tani/deadletters.sqlite3")
    # Readings of devices the registry does not know: "hold" them in the quarantine until the
    # device is registered (tani quarantine list / replay), or "store" them without tags.
    unknown_devices: Literal["hold", "store"] = "hold"
    quarantine_path: Path = Path(".tani/quarantine.sqlite3")
    placement_refresh_s: float = Field(default=30.0, gt=0)
    # Prometheus metrics on http://metrics_host:metrics_port/metrics; 0 picks a free port,
    # None serves none.
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    # How often the sequence-gap audit queries InfluxDB, and over how much recent time.
    gap_audit_s: float = Field(default=60.0, gt=0)
    gap_window_h: float = Field(default=24.0, gt=0)
    # How often the hourly/daily rollups are brought up to date (0: never, e.g. when another
    # worker of a shared group does it).
    rollup_every_s: float = Field(default=900.0, ge=0)
    # /healthz says 503 when messages wait unacknowledged this long without any progress
    # (InfluxDB down, a stuck writer): the worker is up but not doing its work.
    stall_after_s: float = Field(default=120.0, gt=0)

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


def load_config(path: Path) -> IngestConfig:
    """Read and check an ingest TOML file (pydantic.ValidationError names any bad key)."""
    with path.open("rb") as handle:
        return IngestConfig(**tomllib.load(handle))
