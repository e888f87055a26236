"""``[publish] uplink``: "normal" or "economy", trading how late readings arrive for bytes."""

from __future__ import annotations

import queue
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from gateway.clock import ClockState
from gateway.config import GatewayConfig, MqttSettings, PublishSettings, load_config
from gateway.drivers.base import Measurement
from gateway.forwarder import Forwarder
from gateway.outbox import Outbox
from gateway.publisher import MqttPublisher
from gateway.settings import ConfigError

TOML = """
gateway_id = "gw-1"
[mqtt]
username = "gw-1"
password = "x"
"""


def _config(tmp_path: Path, text: str = "", environ: dict[str, str] | None = None) -> GatewayConfig:
    path = tmp_path / "gateway.toml"
    path.write_text(TOML + text)
    return load_config(path, environ or {})


def test_normal_is_what_a_gateway_did_before_the_setting(tmp_path: Path) -> None:
    config = _config(tmp_path)
    assert config.publish.uplink == "normal"
    assert (config.publish.interval_s, config.publish.health_interval_s) == (60.0, 300.0)
    assert config.mqtt.keepalive_s == 60


def test_economy_gathers_half_an_hour_reports_hourly_and_never_pings_between(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path, '[publish]\nuplink = "economy"\n')
    assert (config.publish.interval_s, config.publish.health_interval_s) == (1800.0, 3600.0)
    # The window's own publish keeps the connection alive: the keepalive outlasts the window.
    assert config.mqtt.keepalive_s == 1860


def test_keys_set_explicitly_win_over_the_uplink(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        '[publish]\nuplink = "economy"\ninterval_s = 900\n',
    )
    assert config.publish.interval_s == 900.0
    assert config.publish.health_interval_s == 3600.0
    assert config.mqtt.keepalive_s == 960  # follows the window that was set
    config = _config(
        tmp_path,
        '[publish]\nuplink = "economy"\nhealth_interval_s = 7200\n',
        {"TANI_GATEWAY_MQTT__KEEPALIVE_S": "600"},  # a mobile operator's NAT forgets sooner
    )
    assert (config.publish.health_interval_s, config.mqtt.keepalive_s) == (7200.0, 600)


def test_the_uplink_is_set_by_environment_like_every_key(tmp_path: Path) -> None:
    config = _config(tmp_path, environ={"TANI_GATEWAY_PUBLISH__UPLINK": "economy"})
    assert (config.publish.uplink, config.publish.interval_s) == ("economy", 1800.0)


def test_an_unknown_uplink_is_refused_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _config(tmp_path, '[publish]\nuplink = "cheap"\n')
    assert caught.value.problems == [("publish.uplink", "Input should be 'normal' or 'economy'")]


def test_the_keepalive_stays_within_what_mqtt_can_say() -> None:
    config = GatewayConfig(
        gateway_id="gw-1",
        mqtt=MqttSettings(username="gw-1", password="x"),
        publish=PublishSettings(uplink="economy", interval_s=86_400),
    )
    assert config.mqtt.keepalive_s == 65535


def test_an_economy_gateway_asks_the_broker_for_the_long_keepalive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path, '[publish]\nuplink = "economy"\n')
    asked: list[int] = []
    tried = threading.Event()

    def connect(self: mqtt.Client, host: str, port: int, keepalive: int, **kwargs: object) -> None:
        asked.append(keepalive)
        tried.set()
        raise OSError("no broker in a unit test")

    monkeypatch.setattr(mqtt.Client, "connect", connect)
    publisher = MqttPublisher(config.gateway_id, config.mqtt, None)
    publisher.start()
    try:
        assert tried.wait(5)
    finally:
        publisher.stop()
    assert asked[0] == 1860


class _Link:
    """Stands in for the MQTT link: connected, records each batch's size."""

    def __init__(self) -> None:
        self.events: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.connected = threading.Event()
        self.connected.set()
        self.batches: list[int] = []

    def publish_batch(self, payload: bytes) -> int:
        self.batches.append(len(payload))
        return len(self.batches)


class _TrustedClock:
    boot_id = "boot-1"

    def stamp(self) -> tuple[int, int]:
        return 1_790_000_000_000, 0

    def state(self) -> ClockState:
        return ClockState(True, "ntp")

    def raise_floor(self, time_ms: int) -> None:
        pass


def test_readings_of_a_window_wait_on_disk_and_leave_in_one_batch(tmp_path: Path) -> None:
    config = GatewayConfig(
        gateway_id="gw-1",
        state_dir=tmp_path,
        mqtt=MqttSettings(username="gw-1", password="x"),
        publish=PublishSettings(uplink="economy"),
    )
    outbox = Outbox(tmp_path / "outbox.sqlite3", "gw-1")
    link, measurements = _Link(), queue.SimpleQueue()

    forwarder = Forwarder(
        config,
        outbox,
        link,
        _TrustedClock(),
        measurements,
        on_stats=lambda s: None,  # type: ignore[arg-type]
    )
    try:
        # Six polls of a 7-in-1 probe in a 30-minute window: each is committed when it is read
        # (a power cut loses none of them), none is sent until the window closes.
        for poll in range(6):
            measurements.put(
                [
                    Measurement("soil-1", q, 20.0 + poll, 0, poll * 300 * 10**9)
                    for q in ("soil_moisture", "soil_temperature", "soil_ph")
                ]
            )
            forwarder.tick(publish_fresh=False)
            assert outbox.depth() == 3 * (poll + 1)
        assert link.batches == []
        forwarder.tick(publish_fresh=True)
        assert len(link.batches) == 1
        assert outbox.depth() == 18  # until ingest confirms them
    finally:
        outbox.close()
