"""Running a real gateway for ``tani bench gateway``: its TOML, its process, an ingest worker.

The gateway runs as its systemd unit runs it (``python -m tani.gateway``), so its memory and
CPU are its own; ingest writes into the stack's InfluxDB and confirms to the gateway end to end
(and tells it the server's time: this machine's clock is not NTP-synchronised).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from firmware_sim.site import SimulatedSite
from ingest.config import AckSettings, InfluxSettings, IngestConfig
from ingest.config import MqttSettings as IngestMqtt
from ingest.service import Ingest
from tani.bench.tls_broker import TlsBroker
from tani.stack import MqttCredentials, Stack

GATEWAY_ID = "gw-bench"


def toml_value(value: object) -> str:
    """A value as TOML writes it (ASCII strings and paths as JSON strings, which TOML reads)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | Path):
        return json.dumps(str(value))
    return repr(value)


def gateway_toml(
    state_dir: Path,
    port: int,
    creds: MqttCredentials,
    sites: list[SimulatedSite],
    poll_s: float,
    publish: dict[str, object],
    mqtt_extra: dict[str, object] | None = None,
    max_silence_s: float | None = None,
) -> str:
    """A gateway's TOML: the [mqtt] and [publish] keys given, and per emulated site a Modbus bus
    with its probes read every ``poll_s`` and its weather station."""
    mqtt_keys: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "username": creds.username,
        "password": creds.password,
        "keepalive_s": 60,
        **(mqtt_extra or {}),
    }
    lines = [
        f'gateway_id = "{GATEWAY_ID}"',
        f"state_dir = {toml_value(state_dir)}",
        "[mqtt]",
        *(f"{key} = {toml_value(value)}" for key, value in mqtt_keys.items()),
        "[publish]",
        *(f"{key} = {toml_value(value)}" for key, value in publish.items()),
        "[clock]",
        # Before end-to-end acks (the reference) a gateway believed its clock past the floor;
        # with them it learns the server's time from the acks.
        f"trust_after_floor = {toml_value(publish.get('confirm') == 'broker')}",
    ]
    for n, site in enumerate(sites):
        probes = ", ".join(
            f'{{ device_id = "soil-{n}-{unit}", unit = {unit} }}'
            for unit in site.config.soil_device_ids
        )
        lines += [
            "[[modbus]]",
            f'port = "{site.ports["soil"]}"',
            "baudrate = 4800",
            f"interval_s = {poll_s}",
            f"probes = [{probes}]",
            "[[weather]]",
            f'device_id = "weather-{n}"',
            f'port = "{site.ports["weather"]}"',
            "baudrate = 4800",
        ]
        if max_silence_s is not None:
            lines.append(f"max_silence_s = {max_silence_s}")
    return "\n".join(lines) + "\n"


def publish_keys(publish_s: float, health_s: float = 300.0, confirm: str = "ingest") -> dict:
    """The [publish] keys of the polling, minute-field and replay runs."""
    return {
        "interval_s": publish_s,
        "health_interval_s": health_s,
        "confirm": confirm,
        "ack_timeout_s": 30,
    }


def gateway_argv(config: Path) -> list[str]:
    """The gateway as deploy/gateway/tani-gateway.service starts it."""
    return [sys.executable, "-m", "tani.gateway", "--config", str(config), "--log-level", "warning"]


@contextmanager
def gateway_process(config_text: str, workdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    config = workdir / "gateway.toml"
    config.write_text(config_text)
    process = subprocess.Popen(
        gateway_argv(config),
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "gateway.log").open("ab"),
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until(condition: Callable[[], bool], timeout_s: float, step_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step_s)
    return condition()


@contextmanager
def bench_ingest(
    stack: Stack, broker: TlsBroker, work: Path, ack_delay_s: float
) -> Iterator[Ingest]:
    """A real ingest worker on the bench broker, confirming what it stores to the gateway."""
    creds = stack.mqtt_credentials("bench-ingest")
    ingest = Ingest(
        IngestConfig(
            mqtt=IngestMqtt(
                host=broker.host,
                port=broker.plain_port,
                username=creds.username,
                password=creds.password,
                client_id="bench-ingest",
            ),
            influx=InfluxSettings(url=stack.influx_url, database="bench_gateway"),
            # Runs as much faster as the gateway it confirms to.
            acks=AckSettings(delay_s=ack_delay_s),
            registry_url=f"sqlite:///{work / 'registry.sqlite3'}",
            deadletters_path=work / "deadletters.sqlite3",
            quarantine_path=work / "quarantine.sqlite3",
            unknown_devices="store",  # the benchmark measures the gateway, not the registry
        )
    )
    ingest.start()
    try:
        if not ingest.wait_subscribed(30):
            raise RuntimeError("the benchmark's ingest worker never subscribed")
        yield ingest
    finally:
        ingest.stop()
