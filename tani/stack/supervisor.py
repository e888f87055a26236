"""The local stack: Mosquitto and influxd as detached processes of one state directory."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tani.stack import influxdb, mosquitto, process, users
from tani.stack.config import StackConfig, StackPaths, find_binary, url_host
from tani.stack.errors import (
    ConfigMismatchError,
    PortInUseError,
    ServiceExitedError,
    ServiceTimeoutError,
)
from tani.stack.process import ServiceSpec
from tani.stack.users import MqttCredentials, Role

logger = logging.getLogger(__name__)

MOSQUITTO = "mosquitto"
INFLUXD = "influxd"
_SIGHUP_RELOAD_TIMEOUT = 10.0


@dataclass(frozen=True)
class ServiceStatus:
    """State of one service: is its process running, and does it answer on its port?"""

    name: str
    running: bool
    pid: int | None
    url: str
    port: int
    answering: bool
    log_file: Path


@dataclass(frozen=True)
class StackStatus:
    """State of the whole stack."""

    mosquitto: ServiceStatus
    influxd: ServiceStatus

    @property
    def services(self) -> tuple[ServiceStatus, ServiceStatus]:
        """Both services, Mosquitto first."""
        return (self.mosquitto, self.influxd)

    @property
    def running(self) -> bool:
        """Whether both processes run."""
        return all(s.running for s in self.services)

    @property
    def answering(self) -> bool:
        """Whether both services answer (the stack is usable)."""
        return all(s.answering for s in self.services)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON output (paths as strings)."""
        return {s.name: {**asdict(s), "log_file": str(s.log_file)} for s in self.services}


class Stack:
    """Starts, stops and reports on the Mosquitto + influxd of one state directory.

    Every method works from any process: state lives in pid files, generated configs and
    ``mqtt-users.json`` under ``config.state_dir``, and a lock file serialises changes.
    """

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.paths = StackPaths(Path(os.path.abspath(config.state_dir)))
        self._specs = {
            MOSQUITTO: ServiceSpec(
                MOSQUITTO,
                "mosquitto",
                self.paths.mosquitto_conf,
                self.paths.pid_file(MOSQUITTO),
                (self.paths.output_file(MOSQUITTO), self.paths.log_file(MOSQUITTO)),
                repeat_sigterm=True,
            ),
            INFLUXD: ServiceSpec(
                INFLUXD,
                "influxd",
                self.paths.influx_conf,
                self.paths.pid_file(INFLUXD),
                (self.paths.log_file(INFLUXD),),
            ),
        }

    @classmethod
    def from_state_dir(cls, state_dir: Path) -> Stack:
        """The stack last started in ``state_dir``, with the ports it was started with."""
        return cls(StackConfig.from_state_dir(state_dir))

    # -- addresses --------------------------------------------------------------------------

    @property
    def influx_url(self) -> str:
        """Base URL of influxd's HTTP API, e.g. ``http://127.0.0.1:8086``."""
        return f"http://{url_host(self.config.host)}:{self.config.influx_port}"

    @property
    def mqtt_host(self) -> str:
        """Host clients connect to for MQTT."""
        return self.config.host

    @property
    def mqtt_port(self) -> int:
        """Port clients connect to for MQTT."""
        return self.config.mqtt_port

    # -- lifecycle --------------------------------------------------------------------------

    def up(self, timeout: float = 30.0) -> StackStatus:
        """Start whatever is not running and return once both services answer.

        Idempotent: a running, answering stack is left alone. Mosquitto counts as answering
        when it accepts an authenticated MQTT v5 login, influxd when GET /ping gives 204.
        Raises a :class:`StartError` subclass carrying the service's log tail when a process
        exits, a port is taken, or nothing answers within ``timeout`` seconds; processes this
        call started are stopped again in that case.
        """
        bins = {
            MOSQUITTO: find_binary(self.config.mosquitto_bin, "mosquitto", "mosquitto"),
            INFLUXD: find_binary(self.config.influxd_bin, "influxd", "influxdb"),
        }
        self.paths.make_dirs()
        with process.locked(self.paths.lock_file):
            self._sync_users(force=not self.paths.password_file.exists())
            configs = {
                MOSQUITTO: mosquitto.render_config(
                    self.config, self.paths, run_as_root=os.geteuid() == 0
                ),
                INFLUXD: influxdb.render_config(self.config, self.paths),
            }
            argv = {
                MOSQUITTO: [bins[MOSQUITTO], "-c", str(self.paths.mosquitto_conf)],
                INFLUXD: [bins[INFLUXD], "run", "-config", str(self.paths.influx_conf)],
            }
            started: dict[str, subprocess.Popen[bytes]] = {}
            try:
                for name in (MOSQUITTO, INFLUXD):
                    proc = self._start_if_needed(name, configs[name], argv[name])
                    if proc is not None:
                        started[name] = proc
                process.write_atomic(self.paths.config_record, self.config.to_json())
                self._wait_answering(started, timeout)
            except BaseException:
                self._stop_specs([self._specs[name] for name in started], timeout=5.0)
                raise
        return self.status()

    def down(self, timeout: float = 15.0) -> None:
        """Stop both services: SIGTERM, wait ``timeout`` s, then SIGKILL; remove pid files.

        Afterwards no process of this state directory is left (found by pid file and by a
        /proc scan). A stack that is not running is fine.
        """
        specs = list(self._specs.values())
        if not self.paths.root.exists():
            # Nothing to lock; still make sure no process of a deleted state dir survives.
            self._stop_specs(specs, timeout)
            return
        self.paths.run_dir.mkdir(mode=0o700, exist_ok=True)
        with process.locked(self.paths.lock_file):
            self._stop_specs(specs, timeout)

    def status(self) -> StackStatus:
        """Report running/pid/url/answering for each service; works from any process."""
        states = {}
        for name, spec in self._specs.items():
            pids = process.find_pids(spec)
            pid = pids[0] if pids else None
            answering = pid is not None and self._answering(name)
            if name == MOSQUITTO:
                url = f"mqtt://{url_host(self.config.host)}:{self.config.mqtt_port}"
                port = self.config.mqtt_port
            else:
                url, port = self.influx_url, self.config.influx_port
            states[name] = ServiceStatus(
                name, pid is not None, pid, url, port, answering, self.paths.log_file(name)
            )
        return StackStatus(states[MOSQUITTO], states[INFLUXD])

    # -- MQTT users -------------------------------------------------------------------------

    def add_mqtt_user(self, username: str, role: Role) -> MqttCredentials:
        """Create ``username`` with a random password, or return its existing credentials.

        A "gateway" user may only publish below ``tani/v1/<username>/``; a "service" user
        (ingest, alerts) may only subscribe to ``tani/#``. When the user is new, the password
        file and ACL are rewritten and a running Mosquitto is sent SIGHUP; this returns once
        the broker accepts the new login.
        """
        users.validate_username(username)
        if role not in users.ROLES:
            raise users.MqttUserError(f"role must be one of {users.ROLES}, not {role!r}")
        self.paths.make_dirs()
        with process.locked(self.paths.lock_file):
            table = users.load_users(self.paths.users_file)
            existing = table.get(username)
            if existing is not None:
                if existing["role"] != role:
                    raise users.MqttUserError(
                        f"MQTT user {username!r} already exists with role "
                        f"{existing['role']!r}, not {role!r}; pick another name."
                    )
                return users.credentials(table, username)
            table[username] = users.new_user(role)
            users.save_users(self.paths.users_file, table)
            self._sync_users(force=True)
            creds = users.credentials(table, username)
            self._reload_mosquitto(creds)
        logger.info("mqtt user added", extra={"mqtt_user": username, "role": role})
        return creds

    def remove_mqtt_user(self, username: str) -> bool:
        """Revoke ``username`` (e.g. a stolen gateway); return whether it existed.

        Existing connections of that user stay open until they reconnect.
        """
        users.validate_username(username)
        with process.locked(self.paths.lock_file):
            table = users.load_users(self.paths.users_file)
            if table.pop(username, None) is None:
                return False
            users.save_users(self.paths.users_file, table)
            self._sync_users(force=True)
            self._reload_mosquitto(None)
        logger.info("mqtt user removed", extra={"mqtt_user": username})
        return True

    def mqtt_credentials(self, username: str) -> MqttCredentials:
        """Credentials of an existing user; :class:`MqttUserError` if there is none."""
        return users.credentials(users.load_users(self.paths.users_file), username)

    # -- internals --------------------------------------------------------------------------

    def _sync_users(self, force: bool) -> None:
        """Derive Mosquitto's password file and ACL from the users file (caller holds lock)."""
        table = users.load_users(self.paths.users_file)
        if users.ensure_probe_user(table) or not self.paths.users_file.exists():
            users.save_users(self.paths.users_file, table)
            force = True
        if force or not self.paths.acl_file.exists():
            users.write_password_file(table, self.paths.password_file)
            process.write_atomic(self.paths.acl_file, users.render_acl(table), mode=0o600)

    def _reload_mosquitto(self, check: MqttCredentials | None) -> None:
        """SIGHUP a running Mosquitto; with ``check``, wait until it accepts that login."""
        spec = self._specs[MOSQUITTO]
        pids = process.find_pids(spec)
        if not pids:
            return
        for pid in pids:
            process.signal_pid(pid, spec, signal.SIGHUP)
        if check is None:
            return
        deadline = time.monotonic() + _SIGHUP_RELOAD_TIMEOUT
        while time.monotonic() < deadline:
            code = mosquitto.connack_code(
                self.mqtt_host, self.mqtt_port, check.username, check.password, timeout=1.0
            )
            if code == 0:
                return
            time.sleep(0.02)
        raise ServiceTimeoutError(
            MOSQUITTO,
            f"did not accept the new user {check.username!r} within "
            f"{_SIGHUP_RELOAD_TIMEOUT:.0f} s of reloading its password file",
            process.log_tail(spec),
        )

    def _start_if_needed(
        self, name: str, config_text: str, argv: list[str]
    ) -> subprocess.Popen[bytes] | None:
        spec = self._specs[name]
        if process.find_pids(spec):
            # Keep a running service; refuse silently changing its ports under it.
            current = spec.config_path.read_text() if spec.config_path.exists() else ""
            if current != config_text:
                raise ConfigMismatchError(
                    name,
                    "already runs for this state directory with another configuration "
                    "(other ports?). Stop it first with `tani stack down`, then start again.",
                )
            return None
        process.remove_pid_file(spec)
        host = self.config.host
        ports = (
            [self.config.mqtt_port]
            if name == MOSQUITTO
            else [self.config.influx_port, self.config.influx_rpc_port]
        )
        for port in ports:
            process.check_port_free(name, host, port)
        process.write_atomic(spec.config_path, config_text, mode=0o600)
        # influxd 1.6 logs to stderr only, so its output *is* its log.
        output = self.paths.log_file(name) if name == INFLUXD else self.paths.output_file(name)
        return process.start(argv, spec, output)

    def _answering(self, name: str) -> bool:
        if name == INFLUXD:
            answer = influxdb.ping(self.config.host, self.config.influx_port, timeout=1.0)
            return answer is not None and answer[0] == 204
        probe = users.load_users(self.paths.users_file).get(users.PROBE_USER)
        if probe is None:
            return False
        code = mosquitto.connack_code(
            self.config.host,
            self.config.mqtt_port,
            users.PROBE_USER,
            probe["password"],
            timeout=1.0,
        )
        return code == 0

    def _wait_answering(self, started: dict[str, subprocess.Popen[bytes]], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        waiting = [MOSQUITTO, INFLUXD]
        while waiting:
            for name in list(waiting):
                proc = started.get(name)
                code = process.exited(proc) if proc is not None else None
                if code is not None:
                    self._raise_exited(name, code)
                if proc is None and not process.find_pids(self._specs[name]):
                    raise ServiceExitedError(
                        name,
                        "stopped while the stack was starting",
                        process.log_tail(self._specs[name]),
                    )
                if self._answering(name):
                    waiting.remove(name)
                    if proc is not None:
                        logger.info("service answering", extra={"service": name, "pid": proc.pid})
            if waiting and time.monotonic() >= deadline:
                name = waiting[0]
                raise ServiceTimeoutError(
                    name,
                    f"runs but did not answer within {timeout:.0f} s. If the machine "
                    "is very slow, try again with a longer timeout.",
                    process.log_tail(self._specs[name]),
                )
            if waiting:
                time.sleep(0.05)

    def _raise_exited(self, name: str, code: int) -> None:
        tail = process.log_tail(self._specs[name])
        if "address already in use" in tail.lower():
            # Taken between our port check and the bind; influxd names the port, mosquitto not.
            found = re.search(r":(\d+): bind: address already in use", tail)
            port = (
                int(found.group(1))
                if found
                else self.config.mqtt_port
                if name == MOSQUITTO
                else self.config.influx_port
            )
            raise PortInUseError(name, self.config.host, port, tail)
        raise ServiceExitedError(name, f"exited with code {code} while starting", tail)

    def _stop_specs(self, specs: list[ServiceSpec], timeout: float) -> None:
        stopped = process.terminate(specs, timeout)
        for spec in specs:
            process.remove_pid_file(spec)
        if stopped:
            logger.info(
                "stack services stopped",
                extra={"services": [s.name for s in specs], "pids": stopped},
            )
