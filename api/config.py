"""API configuration: a TOML file, each key overridable by ``TANI_API_*`` variables."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InfluxSettings(_Section):
    """Where readings are read from."""

    url: str = "http://127.0.0.1:8086"
    database: str = "tani"
    username: str | None = None
    password: str | None = None
    # InfluxDB 2.x/3.x: a read token (InfluxQL /query needs it there).
    token: str | None = None


class BrokerSettings(_Section):
    """The broker whose reachability ``/healthz`` reports (the API never speaks MQTT)."""

    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)


class ApiConfig(BaseSettings):
    """Everything the API needs."""

    model_config = SettingsConfigDict(
        env_prefix="TANI_API_", env_nested_delimiter="__", extra="forbid"
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    influx: InfluxSettings = InfluxSettings()
    broker: BrokerSettings = BrokerSettings()
    registry_url: str = "sqlite:///.tani/registry.sqlite3"
    # The last-value store ingest keeps (storage.last_values); unset: a SQLite file beside a
    # SQLite registry, else a table in the registry's database. Set it as ingest's is set.
    last_values_url: str | None = None
    # Times on pages are local: WIB 7 (Lampung), WITA 8, WIT 9.
    utc_offset_h: int = Field(default=7, ge=-12, le=14)
    # Seconds a token's principal is reused (api/auth.py signed_in); 0 asks the registry always.
    auth_cache_s: float = Field(default=5.0, ge=0, le=60)
    # Seconds a field's latest readings from InfluxDB are reused, those from the last-value
    # store at most 0.5 s (api/latest.py); 0 asks every time.
    latest_cache_s: float = Field(default=10.0, ge=0, le=300)
    # Seconds a village's summary numbers are reused (api/village_numbers.py); 0: never.
    summary_cache_s: float = Field(default=60.0, ge=0, le=900)
    # Prometheus metrics on http://metrics_host:metrics_port/metrics, a port apart from the
    # API's so the public one never shows them; 0 picks a free port, None serves none.
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    # Processes answering on the one port (tani.api_workers): one Python process uses one core.
    workers: int = Field(default=1, ge=1, le=64)

    @model_validator(mode="after")
    def _one_metrics_port_per_process(self) -> ApiConfig:
        if self.workers > 1 and self.metrics_port is not None:
            raise ValueError(
                "metrics_port serves the counters of one process: with workers > 1 leave it "
                "unset, or run one API process (workers = 1) per port"
            )
        return self

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


def load_config(path: Path | None) -> ApiConfig:
    """Read and check an API TOML file, or defaults plus environment when ``path`` is None."""
    if path is None:
        return ApiConfig()
    with path.open("rb") as handle:
        return ApiConfig(**tomllib.load(handle))
