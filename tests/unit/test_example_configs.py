"""The example configuration files in deploy/examples load with the real settings models."""

from __future__ import annotations

from pathlib import Path

from api.config import load_config as load_api
from gateway.config import load_config as load_gateway
from ingest.config import load_config as load_ingest
from registry.store import SiteFile

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"


def test_gateway_example_loads() -> None:
    config = load_gateway(EXAMPLES / "gateway.toml")
    assert config.modbus and config.weather
    assert config.publish.payload_format == "binary"


def test_server_examples_load() -> None:
    assert load_ingest(EXAMPLES / "ingest.toml").influx.database == "tani"
    assert load_api(EXAMPLES / "api.toml").port == 8000


def test_site_example_loads() -> None:
    import tomllib

    site = SiteFile.model_validate(tomllib.loads((EXAMPLES / "site.toml").read_text()))
    assert site.gateways[0].devices
