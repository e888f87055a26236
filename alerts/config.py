"""Alerts configuration: a TOML file, each key overridable by ``TANI_ALERTS_*`` variables.

Nested keys use a double underscore: ``TANI_ALERTS_DELIVERY__QUIET_START`` overrides
``[delivery] quiet_start``.
"""

from __future__ import annotations

import tomllib
from datetime import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MqttSettings(_Section):
    """The broker, where gateways' retained status and last will say online/offline."""

    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str
    password: str
    tls: bool = False
    ca_file: Path | None = None
    keepalive_s: int = Field(default=60, ge=5)
    client_id: str = "tani-alerts"


class InfluxSettings(_Section):
    """Where readings are read from (InfluxQL over ``/query``; any InfluxDB version)."""

    url: str = "http://127.0.0.1:8086"
    database: str = "tani"
    username: str | None = None
    password: str | None = None
    token: str | None = None


class EvaluationSettings(_Section):
    """How often rules are checked against what InfluxDB holds."""

    every_s: float = Field(default=30.0, gt=0)
    # How far back each pass reads. Readings arriving later than this (a gateway's backlog
    # after a long outage) are stored but do not raise alerts: they are history, not news.
    lookback_s: int = Field(default=6 * 3600, ge=60)
    # An open alert resolves once its clear condition has held this long (reading time), so a
    # value wavering at the clear threshold does not resolve and re-raise it.
    clear_hold_s: float = Field(default=600.0, ge=0)
    # How often every field's daily water balance is recomputed and written to InfluxDB
    # (water_1d, for Grafana and the village summaries). A balance is daily; 10 minutes shows
    # a new irrigation record soon enough.
    water_every_s: float = Field(default=600.0, gt=0)


class DeliverySettings(_Section):
    """How notifications go out."""

    # The address people open from a message: links are <public_url>/a/<token>.
    public_url: str = "http://127.0.0.1:8000"
    every_s: float = Field(default=5.0, gt=0)
    # Quiet hours in local time: non-critical messages wait until quiet_end.
    quiet_hours: bool = True
    quiet_start: time = time(21, 0)
    quiet_end: time = time(6, 0)
    utc_offset_h: int = Field(default=7, ge=-12, le=14)  # WIB 7, WITA 8, WIT 9
    # Retries: exponential backoff from retry_base_s up to retry_max_s, then give up.
    retry_base_s: float = Field(default=30.0, gt=0)
    retry_max_s: float = Field(default=1800.0, gt=0)
    max_attempts: int = Field(default=8, ge=1)
    send_timeout_s: float = Field(default=10.0, gt=0)
    # Unacknowledged this long: the village office is told too (0: never escalate).
    escalate_after_s: int = Field(default=4 * 3600, ge=0)

    @model_validator(mode="after")
    def _quiet_hours_are_a_window(self) -> DeliverySettings:
        if self.quiet_hours and self.quiet_start == self.quiet_end:
            raise ValueError(
                "Jam tenang perlu quiet_start dan quiet_end yang berbeda (matikan dengan "
                "quiet_hours = false) / quiet hours need different quiet_start and quiet_end "
                "(turn them off with quiet_hours = false)"
            )
        return self


class AlertsConfig(BaseSettings):
    """Everything the alerts service needs."""

    model_config = SettingsConfigDict(
        env_prefix="TANI_ALERTS_", env_nested_delimiter="__", extra="forbid"
    )

    mqtt: MqttSettings
    influx: InfluxSettings = InfluxSettings()
    evaluation: EvaluationSettings = EvaluationSettings()
    delivery: DeliverySettings = DeliverySettings()
    registry_url: str = "sqlite:///.tani/registry.sqlite3"
    # Prometheus metrics on http://metrics_host:metrics_port/metrics; 0 picks a free port,
    # None serves none.
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(default=None, ge=0, le=65535)

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


def load_config(path: Path) -> AlertsConfig:
    """Read and check an alerts TOML file (pydantic.ValidationError names any bad key)."""
    with path.open("rb") as handle:
        return AlertsConfig(**tomllib.load(handle))
