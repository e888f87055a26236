"""``tani gateways add``: a registered gateway with an MQTT login, on the real Mosquitto.

The gateway added by the command logs in with the config it printed and publishes under its
own prefix; a forged login (wrong password, an unknown gateway) is refused and a real gateway
cannot publish as it.
"""

from __future__ import annotations

import json
import tomllib
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from registry.store import Registry
from tani.cli import app
from tani.onboarding import ACL_FILE, PASSWORD_FILE, USERS_FILE
from tani.stack import MqttCredentials, Stack
from tests.integration.test_stack import NOT_AUTHORIZED, Client

pytestmark = pytest.mark.integration

SITE = """
[[villages]]
id = "bumi-agung"
name = "Kampung Bumi Agung"

[[fields]]
id = "sawah-darto"
name = "Sawah Pak Darto"
village = "bumi-agung"
crop = "padi"
"""


@pytest.fixture
def registry_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    site = tmp_path / "site.toml"
    site.write_text(SITE)
    registry = Registry(url)
    registry.load_site(site)
    registry.close()
    return url


def _add(url: str, *args: str) -> Result:
    return CliRunner().invoke(app, ["gateways", "add", *args], env={"TANI_REGISTRY_URL": url})


def _config(result: Result) -> tuple[dict[str, Any], MqttCredentials]:
    assert result.exit_code == 0, result.output
    config = tomllib.loads(json.loads(result.stdout)["config"])
    mqtt = config["mqtt"]
    return config, MqttCredentials(mqtt["username"], mqtt["password"], "gateway")


def test_an_added_gateway_publishes_and_a_forged_one_cannot(
    stack: Stack, registry_url: str
) -> None:
    state = str(stack.config.state_dir)
    args = ["gw-darto", "--name", "Pi sawah Darto", "--field", "sawah-darto", "--state-dir", state]
    config, creds = _config(_add(registry_url, *args, "--json"))
    assert config["gateway_id"] == "gw-darto"
    assert (config["mqtt"]["host"], config["mqtt"]["port"]) == (stack.mqtt_host, stack.mqtt_port)
    _, same = _config(_add(registry_url, *args, "--json"))
    assert same.password == creds.password  # running it again prints the same config

    listing = CliRunner().invoke(
        app, ["gateways", "list", "--json"], env={"TANI_REGISTRY_URL": registry_url}
    )
    (row,) = json.loads(listing.stdout)
    assert (row["id"], row["village_id"]) == ("gw-darto", "bumi-agung")

    ingest = Client(stack, stack.add_mqtt_user("ingest", "service"))
    gateway = Client(stack, creds)
    forged = Client(stack, creds, password=creds.password + "x")
    stranger = Client(stack, MqttCredentials("gw-palsu", creds.password, "gateway"))
    other = Client(stack, stack.add_mqtt_user("gw-lain", "gateway"))
    try:
        assert gateway.connack is not None and gateway.connack.value == 0
        assert forged.connack is not None and forged.connack.value == NOT_AUTHORIZED
        assert stranger.connack is not None and stranger.connack.value == NOT_AUTHORIZED
        ingest.subscribe("tani/#")
        mine, impostor = uuid.uuid4().hex.encode(), uuid.uuid4().hex.encode()
        assert other.publish("tani/v1/gw-darto/readings", impostor).value == NOT_AUTHORIZED
        assert gateway.publish("tani/v1/gw-darto/readings", mine).value == 0
        ingest.wait_for(lambda: ("tani/v1/gw-darto/readings", mine) in ingest.payloads(), "it")
        assert all(p != impostor for _t, p in ingest.payloads())
    finally:
        for client in (ingest, gateway, forged, stranger, other):
            client.close()


def test_a_broker_directory_gets_users_password_file_and_acl(
    tmp_path: Path, registry_url: str
) -> None:
    mqtt_dir = tmp_path / "mqtt"
    args = ["gw-darto", "--name", "Pi", "--village", "bumi-agung", "--mqtt-dir", str(mqtt_dir)]
    refused = _add(registry_url, *args)
    assert refused.exit_code == 2 and "--broker" in refused.output

    config, creds = _config(_add(registry_url, *args, "--broker", "10.0.0.5:8883", "--json"))
    assert (config["mqtt"]["host"], config["mqtt"]["port"]) == ("10.0.0.5", 8883)
    acl = (mqtt_dir / ACL_FILE).read_text()
    assert "user gw-darto\ntopic write tani/v1/gw-darto/#\ntopic read tani/v1/gw-darto/ack\n" in acl
    (line,) = (mqtt_dir / PASSWORD_FILE).read_text().splitlines()
    assert line.startswith("gw-darto:$7$101$") and creds.password not in line
    assert json.loads((mqtt_dir / USERS_FILE).read_text())["users"]["gw-darto"]["role"] == (
        "gateway"
    )
    assert (mqtt_dir / PASSWORD_FILE).stat().st_mode & 0o077 == 0
    _, same = _config(_add(registry_url, *args, "--broker", "10.0.0.5", "--json"))
    assert same.password == creds.password


def test_an_unknown_field_is_refused(stack: Stack, registry_url: str) -> None:
    result = _add(
        registry_url,
        "gw-x",
        "--name",
        "X",
        "--field",
        "tidak-ada",
        "--state-dir",
        str(stack.config.state_dir),
    )
    assert result.exit_code == 2
    assert "tidak-ada" in result.output
