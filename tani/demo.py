"""``tani demo``: the whole chain on one machine with emulated field devices.

Stack (Mosquitto + influxd) -> emulated soil probes and weather station on ptys -> gateway ->
MQTT -> ingest -> InfluxDB -> API, and the alerts service with the default rules, its messages
arriving in a local inbox printed on the console. Before the alerts and the API start, the
gateway sends a season of history through the same chain (``tani.demo_season``), so pages,
summaries, advice and alerts have weeks to show at once. Components run in this process as they
would on their own hosts, each configured through the same settings models as ``tani gateway``,
``ingest``, ``api`` and ``alerts run``; the configuration files it uses are written to
``<state_dir>/demo/`` for anyone who wants to run a component alone.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.config import AlertsConfig
from alerts.config import load_config as load_alerts
from alerts.service import AlertsService
from api.app import create_app
from api.config import ApiConfig
from api.config import load_config as load_api
from firmware_sim.site import SimulatedSite, SiteConfig
from gateway.config import GatewayConfig
from gateway.config import load_config as load_gateway
from gateway.service import Gateway
from ingest.config import IngestConfig
from ingest.config import load_config as load_ingest
from ingest.service import Ingest
from registry.alerting import Alert
from registry.store import Registry
from storage.influx import InfluxDB
from storage.queries import count_readings_since
from tani.demo_inbox import DemoInbox
from tani.demo_season import SeasonNotStored, backfill_season
from tani.demo_site import DEMO_FIELDS, FIELD_ID, GATEWAY_ID, WEATHER_ID, DemoPeople, seed
from tani.stack import Stack, StackConfig

log = logging.getLogger(__name__)

# The emulated field: seed 45 and Modbus units 2 and 3 (each unit is its own spot of the emulated
# soil) read like the season's loam near the end of its dry spell (17.9 and 18.2 %), and no rain
# falls, so the live readings carry the season on instead of jumping away from it.
SITE_SEED = 45
PROBE_UNITS = {"soil-1": 2, "soil-2": 3}


class DemoError(Exception):
    """The demo could not start one of its parts."""


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What ``tani demo`` was asked for."""

    stack: StackConfig
    api_port: int = 8000
    duration_s: float | None = None
    poll_interval_s: float = 2.0
    time_scale: float = 60.0


def _write_toml(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(text)
    tomllib.loads(text)  # a demo config that does not parse is a bug here, not later


def _configs(
    options: DemoOptions, stack: Stack, ports: dict[str, str]
) -> tuple[GatewayConfig, IngestConfig, ApiConfig, AlertsConfig]:
    """Write the components' TOML files and load them like ``tani <component>`` does."""
    state = options.stack.state_dir.resolve()
    demo_dir = state / "demo"
    gw = stack.add_mqtt_user(GATEWAY_ID, "gateway")
    probes = ", ".join(f'{{ device_id = "{d}", unit = {u} }}' for d, u in PROBE_UNITS.items())
    ingest_user = stack.add_mqtt_user("ingest", "service")
    alerts_user = stack.add_mqtt_user("alerts", "service")
    registry_url = f"sqlite:///{state / 'registry.sqlite3'}"
    influx_url = stack.influx_url
    mqtt_host, mqtt_port = stack.mqtt_host, stack.mqtt_port
    _write_toml(
        demo_dir / "gateway.toml",
        f"""# Gateway of the demo field; on a Pi, ports would be /dev/serial/by-id/... names.
gateway_id = "{GATEWAY_ID}"
state_dir = "{demo_dir / "gateway"}"

[mqtt]
host = "{mqtt_host}"
port = {mqtt_port}
username = "{gw.username}"
password = "{gw.password}"

[publish]
interval_s = 1.0

[[modbus]]
port = "{ports["soil"]}"
baudrate = 4800
interval_s = {options.poll_interval_s}
probes = [{probes}]

[[weather]]
device_id = "weather-1"
port = "{ports["weather"]}"
baudrate = 4800
""",
    )
    _write_toml(
        demo_dir / "ingest.toml",
        f"""registry_url = "{registry_url}"
deadletters_path = "{state / "deadletters.sqlite3"}"
quarantine_path = "{state / "quarantine.sqlite3"}"

[mqtt]
host = "{mqtt_host}"
port = {mqtt_port}
username = "{ingest_user.username}"
password = "{ingest_user.password}"

[influx]
url = "{influx_url}"
database = "tani"

[acks]
# The demo's gateway publishes every second: confirming within a second (not 150 s) lets the
# demo see its season stored at once.
delay_s = 1.0
""",
    )
    _write_toml(
        demo_dir / "api.toml",
        f"""host = "127.0.0.1"
port = {options.api_port}
registry_url = "{registry_url}"

[influx]
url = "{influx_url}"
database = "tani"

[broker]
host = "{mqtt_host}"
port = {mqtt_port}
""",
    )
    _write_toml(
        demo_dir / "alerts.toml",
        f"""registry_url = "{registry_url}"

[mqtt]
host = "{mqtt_host}"
port = {mqtt_port}
username = "{alerts_user.username}"
password = "{alerts_user.password}"

[influx]
url = "{influx_url}"
database = "tani"

[evaluation]
every_s = 10

[delivery]
public_url = "http://127.0.0.1:{options.api_port}"
every_s = 2
# A demo is watched now, whatever the hour: no quiet hours.
quiet_hours = false
""",
    )
    return (
        load_gateway(demo_dir / "gateway.toml"),
        load_ingest(demo_dir / "ingest.toml"),
        load_api(demo_dir / "api.toml"),
        load_alerts(demo_dir / "alerts.toml"),
    )


class _ApiServer:
    """uvicorn in a thread, stoppable."""

    def __init__(self, config: ApiConfig) -> None:
        self._server = uvicorn.Server(
            uvicorn.Config(create_app(config), host=config.host, port=config.port, log_config=None)
        )
        self._thread = threading.Thread(target=self._server.run, name="api", daemon=True)
        self._port = config.port

    def start(self, timeout_s: float = 10.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise DemoError(
                    f"the API did not start on port {self._port}: is another program using it? "
                    "Choose another with --api-port."
                )
            time.sleep(0.05)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join()


def run_demo(
    options: DemoOptions, wait: Callable[[float | None], None], echo: Callable[[str], None]
) -> dict[str, Any] | None:
    """Run the demo; with a duration, return the summary the CLI prints as its last line."""
    stack = Stack(options.stack)
    started_stack = not stack.status().running
    stack.up()
    site = SimulatedSite(
        SiteConfig(
            seed=SITE_SEED,
            time_scale=options.time_scale,
            soil_device_ids=tuple(PROBE_UNITS.values()),
            weather_interval_s=options.poll_interval_s,
            rain_events_per_day=0.0,
        )
    )
    gateway = ingest = api = alerts = None
    inbox = DemoInbox(echo)
    try:
        site.start()
        inbox.start()
        gateway_config, ingest_config, api_config, alerts_config = _configs(
            options, stack, site.ports
        )
        # The season ends, and this run's live readings (counted below) begin, at start_ms.
        start_ms = time.time_ns() // 1_000_000
        registry = Registry(ingest_config.registry_url)
        try:
            people = seed(registry, inbox, start_ms)
        finally:
            registry.close()
        # An emulated gateway starts with an empty outbox: its season, then this run's readings.
        shutil.rmtree(gateway_config.state_dir, ignore_errors=True)
        ingest = Ingest(ingest_config)
        ingest.start()
        # On a first run ingest has no session at the broker yet: what the gateway publishes
        # before ingest's subscription is confirmed would reach nobody.
        if not ingest.wait_subscribed(30):
            raise DemoError("ingest could not subscribe at the broker (see the log above)")
        live = Gateway(gateway_config)

        def start_gateway() -> None:  # once its outbox holds the season (see demo_season)
            nonlocal gateway
            live.start()
            gateway = live

        try:
            season = backfill_season(
                gateway_config, ingest_config, DEMO_FIELDS, WEATHER_ID, start_ms, start_gateway
            )
        except SeasonNotStored as exc:
            raise DemoError(f"the demo's season was not stored: {exc}") from exc
        echo(
            f"Riwayat / history: {season.days} hari / days, {season.readings} pembacaan / "
            f"readings, {season.records} catatan / records, tersimpan / stored in "
            f"{season.seconds:.1f} s"
        )
        alerts = AlertsService(alerts_config)
        alerts.start()
        api = _ApiServer(api_config)
        api.start()
        _introduce(f"http://{api_config.host}:{api_config.port}", people, echo)
        wait(options.duration_s)
        live.stop(drain_timeout_s=20.0)
        gw_stats = live.stats()
        # The gateway's count includes the season it sent first.
        sent = gw_stats.readings_sent - season.readings
        gateway = None
        stored = _wait_stored(ingest_config, sent, start_ms)
        ingest_stats = ingest.stats()
        alert_counts = _alert_counts(alerts)
        if options.duration_s is None:
            return None
        return {
            "duration_s": options.duration_s,
            "readings_sent": sent,
            "readings_stored": stored,
            "lost": max(sent - stored, 0),
            "outbox_left": gw_stats.outbox_depth,
            "device_errors": gw_stats.device_errors,
            "ingest": asdict(ingest_stats),
            "alerts": {**alert_counts, "messages_received": inbox.received},
            "season": asdict(season),
        }
    finally:
        for component in (api, alerts, gateway, ingest):
            if component is not None:
                component.stop()
        inbox.stop()
        site.stop()
        if started_stack:
            stack.down()


def _introduce(base: str, people: DemoPeople, echo: Callable[[str], None]) -> None:
    """Tell the person at the console where to look, and as whom."""
    farmer, officer = people.tokens["darto"], people.tokens["ppl-sari"]
    echo(f"Tani Hub demo berjalan / running: {base}  (Ctrl-C untuk berhenti / to stop)")
    echo(f"Kesehatan / health: {base}/healthz")
    echo("Petani / farmer darto:")
    echo(f"  curl -H 'Authorization: Bearer {farmer}' {base}/api/v1/fields/{FIELD_ID}/latest")
    echo("Penyuluh / officer ppl-sari:")
    echo(f"  curl -H 'Authorization: Bearer {officer}' {base}/api/v1/alerts")
    echo(
        f"Halaman / pages: {base}/masuk  (darto, ppl-sari, kantor-bumi-agung; "
        f"kata sandi / password: {people.password})"
    )
    echo("Pesan peringatan muncul di sini / alert messages appear here.")


def _alert_counts(alerts: AlertsService) -> dict[str, int]:
    """Alerts by state, as the demo's registry holds them."""
    with Session(alerts.registry.engine) as session:
        rows = session.execute(select(Alert.state, func.count()).group_by(Alert.state))
        return {f"alerts_{state}": count for state, count in rows}


def _wait_stored(config: IngestConfig, sent: int, start_ms: int, timeout_s: float = 30.0) -> int:
    """Count this run's readings in InfluxDB, waiting for ingest to catch up with the gateway."""
    influx = InfluxDB(config.influx.url, config.influx.database)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            stored = count_readings_since(influx, GATEWAY_ID, start_ms)
            if stored >= sent or time.monotonic() > deadline:
                return stored
            time.sleep(0.2)
    finally:
        influx.close()


def summary_line(summary: dict[str, Any]) -> str:
    """The demo's last line: one JSON object."""
    return json.dumps(summary, sort_keys=True)
