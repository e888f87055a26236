"""The processes of a scenario's system: gateways (with their emulated devices) and ingest workers.

Each runs under a small supervisor, as in production (the gateway's systemd unit has
``Restart=always``, compose restarts ingest): a process that exits by itself is started again
after ``RESTART_DELAY_S``, and counted, so a crash shows up in the result instead of ending the
scenario. A kill the scenario makes and its restart happen under the process's lock, so the
supervisor never restarts it a second time.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel

from gateway.config import MqttSettings as GatewayMqtt
from gateway.config import PublishSettings
from gateway.settings import Section
from ingest.config import SHARED_SESSION_EXPIRY_S, AckSettings
from tani.chaos.params import Params
from tani.chaos.procs import Child, module_argv, tani_argv
from tani.stack import MqttCredentials

if TYPE_CHECKING:
    from tani.chaos.world import World

RESTART_DELAY_S = 2.0
DATABASE = "tani"
SHARED_GROUP = "chaos"


def _default(model: type[BaseModel] | type[Section], name: str) -> float:
    # The gateway's sections are dataclasses (gateway.settings), the servers' pydantic models.
    if issubclass(model, Section):
        value = {f.name: f.default for f in dataclasses.fields(model)}[name]  # type: ignore[arg-type]
    else:
        value = model.model_fields[name].default
    assert isinstance(value, int | float), f"{model.__name__}.{name} has no numeric default"
    return float(value)


def scaled_settings(params: Params) -> dict[str, float]:
    """The production defaults paced by a field's once-a-minute publishing, run as many times
    faster as the chaos site (``params.time_scale``), as they go into the TOML files."""
    scale = params.time_scale
    return {
        "gateway.mqtt.reconnect_max_s": _default(GatewayMqtt, "reconnect_max_s") / scale,
        "gateway.publish.ack_timeout_s": _default(PublishSettings, "ack_timeout_s") / scale,
        "gateway.publish.ack_timeout_max_s": _default(PublishSettings, "ack_timeout_max_s") / scale,
        "gateway.publish.health_interval_s": _default(PublishSettings, "health_interval_s") / scale,
        "ingest.acks.delay_s": _default(AckSettings, "delay_s") / scale,
        # MQTT counts session expiry in whole seconds.
        "ingest.mqtt.session_expiry_s (shared group)": max(
            1.0, float(round(SHARED_SESSION_EXPIRY_S / scale))
        ),
    }


def toml_text(value: object) -> str:
    """A TOML basic string (a JSON string of ASCII is one)."""
    return json.dumps(str(value))


class Supervised:
    """A restartable process: started, killed, stopped on purpose, restarted if it crashed."""

    name: str
    log_path: Path

    def __init__(self) -> None:
        self.process: Child | None = None
        self.starts = 0
        self.crash_restarts = 0
        self.exit_codes: list[int] = []
        self._lock = threading.Lock()
        self._stopped = False
        self._dead_since: float | None = None

    def _argv(self) -> list[str]:
        raise NotImplementedError

    def _start_locked(self) -> None:
        self.process = Child(self.name, self._argv(), self.log_path)
        self.starts += 1
        self._dead_since = None

    def start(self) -> None:
        """Start the process."""
        with self._lock:
            self._stopped = False
            self._start_locked()

    def kill_and_restart(self) -> None:
        """``kill -9``, then the same command again at once."""
        with self._lock:
            if self.process is not None:
                self.process.kill9()
            self._start_locked()

    def kill9(self) -> None:
        """``kill -9``; the supervisor starts it again (a crash)."""
        with self._lock:
            if self.process is not None:
                self.process.kill9()

    def kill9_for_good(self) -> None:
        """``kill -9``, and no restart: a worker whose host died."""
        with self._lock:
            self._stopped = True
            if self.process is not None:
                self.process.kill9()

    def terminate(self) -> None:
        """SIGTERM, and no restart from now on; :meth:`stop` waits for the exit."""
        with self._lock:
            self._stopped = True
            if self.process is not None:
                self.process.terminate()

    def stop(self) -> int | None:
        """SIGTERM (unless :meth:`terminate` sent it), and no restart; the exit status."""
        with self._lock:
            self._stopped = True
            process = self.process
        return process.stop(60.0) if process is not None else None

    def supervise(self) -> bool:
        """Restart the process if it ended by itself a while ago; whether it was restarted."""
        with self._lock:
            if self._stopped or self.process is None or self.process.alive():
                return False
            now = time.monotonic()
            if self._dead_since is None:
                self._dead_since = now
                self.exit_codes.append(self.process.kill9())  # reaps it
                return False
            if now - self._dead_since < RESTART_DELAY_S:
                return False
            self.crash_restarts += 1
            self._start_locked()
            return True


class GatewayProc(Supervised):
    """One gateway: its emulated devices (``tani sim``), its config, its current process."""

    def __init__(self, world: World, gateway_id: str, index: int) -> None:
        super().__init__()
        self.id = self.name = gateway_id
        self.world = world
        self.dir = world.dir / gateway_id
        self.dir.mkdir(parents=True)
        self.config_path = self.dir / "gateway.toml"
        self.outbox_path = self.dir / "state" / "outbox.sqlite3"
        self.log_path = self.dir / "gateway.log"
        self.clock_control: Path | None = None
        # [clock] trust_after_floor (None: the default) for a gateway with a scripted clock.
        self.trust_after_floor: bool | None = None
        self.boot_id = f"chaos-boot-{uuid.uuid4().hex[:8]}"
        self.ports: dict[str, str] = {}
        self._ports_seen = threading.Event()
        self.sim = Child(
            f"sim-{gateway_id}",
            tani_argv(
                "sim",
                "--time-scale",
                "600",
                "--weather-interval",
                str(world.params.poll_interval_s),
                "--seed",
                str(world.ctx.seed + index),
                "--log-level",
                "warning",
            ),
            self.dir / "sim.log",
            on_line=self._port_line,
        )

    def _port_line(self, line: str) -> None:
        name, _, path = line.partition(" ")
        if name in ("soil", "weather") and path.startswith("/"):
            self.ports[name] = path
            if {"soil", "weather"} <= self.ports.keys():
                self._ports_seen.set()

    def wait_ports(self, timeout_s: float = 20.0) -> None:
        """Until the emulator printed its pty paths."""
        if not self._ports_seen.wait(timeout_s):
            raise RuntimeError(f"emulated devices of {self.id} did not start: {self.sim.log_path}")

    def write_config(self, creds: MqttCredentials) -> None:
        """The gateway's TOML, as an installer would write it."""
        p, stack = self.world.params, self.world.stack
        scaled = scaled_settings(p)
        lines = [
            f"gateway_id = {toml_text(self.id)}",
            f"state_dir = {toml_text(self.outbox_path.parent)}",
            "[mqtt]",
            f"host = {toml_text(stack.mqtt_host)}",
            f"port = {stack.mqtt_port}",
            f"username = {toml_text(creds.username)}",
            f"password = {toml_text(creds.password)}",
            "reconnect_min_s = 0.5",
            f"reconnect_max_s = {max(scaled['gateway.mqtt.reconnect_max_s'], 0.5)}",
            "[publish]",
            f"interval_s = {p.publish_interval_s}",
            f"ack_timeout_s = {scaled['gateway.publish.ack_timeout_s']}",
            f"ack_timeout_max_s = {scaled['gateway.publish.ack_timeout_max_s']}",
            f"health_interval_s = {scaled['gateway.publish.health_interval_s']}",
        ]
        if self.trust_after_floor is not None:
            lines += ["[clock]", f"trust_after_floor = {str(self.trust_after_floor).lower()}"]
        lines += [
            "[[modbus]]",
            f"port = {toml_text(self.ports['soil'])}",
            "baudrate = 4800",
            f"interval_s = {p.poll_interval_s}",
            'probes = [{ device_id = "soil-1", unit = 1 }]',
            "[[weather]]",
            'device_id = "weather-1"',
            f"port = {toml_text(self.ports['weather'])}",
            "baudrate = 4800",
        ]
        self.config_path.write_text("\n".join(lines) + "\n")

    def set_clock(self, offset_ms: int, ntp: bool) -> None:
        """What the wall clock of a gateway with a scripted clock says from now on."""
        if self.clock_control is None:
            self.clock_control = self.dir / "clock.json"
        tmp = self.clock_control.with_suffix(".tmp")
        tmp.write_text(json.dumps({"offset_ms": offset_ms, "ntp": ntp}))
        tmp.replace(self.clock_control)

    def _argv(self) -> list[str]:
        common = ("--config", str(self.config_path), "--log-level")
        if self.clock_control is None:
            return tani_argv("gateway", *common, "warning")
        # At info level: what the clock logic decided is the point of these scenarios.
        return module_argv(
            "tani.chaos.clock_gateway",
            *common,
            "info",
            "--control",
            str(self.clock_control),
            "--boot-id",
            self.boot_id,
        )

    def reboot(self) -> None:
        """A power cut and a new boot: ``kill -9``, then start with a new boot id."""
        with self._lock:
            if self.process is not None:
                self.process.kill9()
            self.boot_id = f"chaos-boot-{uuid.uuid4().hex[:8]}"
            self._start_locked()


class IngestProc(Supervised):
    """One ``tani ingest`` worker."""

    def __init__(self, world: World, n: int, creds: MqttCredentials, shared: bool) -> None:
        super().__init__()
        self.name = f"ingest-{n}"
        self.config_path = world.dir / f"{self.name}.toml"
        self.log_path = world.dir / f"{self.name}.log"
        self.deadletters_path = world.dir / f"{self.name}-deadletters.sqlite3"
        stack = world.stack
        lines = [
            f"registry_url = {toml_text(world.registry_url)}",
            f"deadletters_path = {toml_text(self.deadletters_path)}",
            f"quarantine_path = {toml_text(world.dir / f'{self.name}-quarantine.sqlite3')}",
            "[mqtt]",
            f"host = {toml_text(stack.mqtt_host)}",
            f"port = {stack.mqtt_port}",
            f"username = {toml_text(creds.username)}",
            f"password = {toml_text(creds.password)}",
            f"client_id = {toml_text(f'chaos-{self.name}')}",
        ]
        if shared:
            expiry = scaled_settings(world.params)["ingest.mqtt.session_expiry_s (shared group)"]
            lines.append(f"shared_group = {toml_text(SHARED_GROUP)}")
            lines.append(f"session_expiry_s = {int(expiry)}")
        lines += [
            "[influx]",
            f"url = {toml_text(stack.influx_url)}",
            f"database = {toml_text(DATABASE)}",
            "[acks]",
            f"delay_s = {scaled_settings(world.params)['ingest.acks.delay_s']}",
        ]
        self.config_path.write_text("\n".join(lines) + "\n")
        self._log_offset = 0

    def _argv(self) -> list[str]:
        return tani_argv("ingest", "--config", str(self.config_path), "--log-level", "info")

    def _start_locked(self) -> None:
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        super()._start_locked()

    def subscribed(self) -> bool:
        """Whether this run of the worker logged its confirmed subscription."""
        if self.process is not None and not self.process.alive():
            raise RuntimeError(f"{self.name} exited: see {self.log_path}")
        with self.log_path.open("rb") as handle:
            handle.seek(self._log_offset)
            return b'"event": "subscribed"' in handle.read()

    def log_events(self, *prefixes: str) -> dict[str, int]:
        """How many log lines (all runs) have an event starting with each prefix."""
        counts = dict.fromkeys(prefixes, 0)
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        for line in text.splitlines():
            for prefix in prefixes:
                if f'"event": "{prefix}' in line:
                    counts[prefix] += 1
        return counts
