"""Configuration and on-disk layout of the local stack (one state directory per stack)."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
from dataclasses import dataclass, field, fields
from pathlib import Path

from tani.stack.errors import MissingBinaryError, StackConfigError

# Debian puts mosquitto in /usr/sbin, which is not on a normal user's PATH (on a Pi, say).
# Not 1883/8086/8088: on Debian, installing the packages also starts their system services on
# those ports, and the project's own stack must run beside them.
DEFAULT_MQTT_PORT = 11883
DEFAULT_INFLUX_PORT = 18086
DEFAULT_INFLUX_RPC_PORT = 18088

_EXTRA_BIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin")
_LOOPBACK_NAMES = ("localhost",)


@dataclass(frozen=True)
class StackConfig:
    """Where the stack keeps its data and where its services listen.

    ``host`` must be a loopback address: the local stack runs InfluxDB without authentication,
    so it never listens on a network interface. A district server that gateways reach over the
    network uses the configuration in ``deploy/`` instead.
    """

    state_dir: Path
    host: str = "127.0.0.1"
    mqtt_port: int = DEFAULT_MQTT_PORT
    influx_port: int = DEFAULT_INFLUX_PORT
    influx_rpc_port: int = DEFAULT_INFLUX_RPC_PORT
    # None means "look it up in PATH and the sbin directories".
    mosquitto_bin: str | None = None
    influxd_bin: str | None = None

    def __post_init__(self) -> None:
        _check_loopback(self.host)
        ports = {
            "mqtt_port": self.mqtt_port,
            "influx_port": self.influx_port,
            "influx_rpc_port": self.influx_rpc_port,
        }
        for name, port in ports.items():
            if not 1 <= port <= 65535:
                raise StackConfigError(f"{name}={port} is not a TCP port (1-65535)")
        if len(set(ports.values())) != len(ports):
            raise StackConfigError(f"the stack's ports must all differ, got {ports}")
        if any(ch.isspace() for ch in str(self.state_dir)):
            # Mosquitto's config parser splits values at spaces.
            raise StackConfigError(
                f"state directory {str(self.state_dir)!r} contains a space or tab; "
                "Mosquitto cannot use such paths. Choose a directory without spaces."
            )

    def to_json(self) -> str:
        """The config as JSON, as `up` records it in ``stack.json`` of the state directory."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["state_dir"] = str(self.state_dir)
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_state_dir(cls, state_dir: Path) -> StackConfig:
        """The config the last `up` in ``state_dir`` used (ports included).

        Lets `status` and `down` in another process find a stack started with other ports.
        """
        path = StackPaths(Path(os.path.abspath(state_dir))).config_record
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise StackConfigError(
                f"no stack was ever started in {state_dir} ({path.name} is missing); "
                "start it with `tani stack up`."
            ) from exc
        except (OSError, ValueError) as exc:
            raise StackConfigError(f"cannot read {path}: {exc}") from exc
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["state_dir"] = Path(state_dir)
        return cls(**values)


def _check_loopback(host: str) -> None:
    if host in _LOOPBACK_NAMES:
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise StackConfigError(
        f"host {host!r} is not a loopback address. The local stack runs InfluxDB without "
        "authentication, so it listens on 127.0.0.1 (or ::1) only; for a server that gateways "
        "reach over the network, install the configuration in deploy/mosquitto and "
        "deploy/influxdb."
    )


def url_host(host: str) -> str:
    """Return ``host`` as it appears in a URL or ``host:port`` (IPv6 in brackets)."""
    return f"[{host}]" if ":" in host else host


@dataclass(frozen=True)
class StackPaths:
    """Every file and directory of one stack, all below an absolute ``root``."""

    root: Path
    run_dir: Path = field(init=False)
    log_dir: Path = field(init=False)
    mosquitto_dir: Path = field(init=False)
    influx_dir: Path = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "run_dir", self.root / "run")
        object.__setattr__(self, "log_dir", self.root / "log")
        object.__setattr__(self, "mosquitto_dir", self.root / "mosquitto")
        object.__setattr__(self, "influx_dir", self.root / "influxdb")

    @property
    def lock_file(self) -> Path:
        """File locked while one process starts, stops or changes the stack."""
        return self.run_dir / "stack.lock"

    @property
    def config_record(self) -> Path:
        """The StackConfig of the last `up`, as JSON."""
        return self.root / "stack.json"

    @property
    def users_file(self) -> Path:
        """MQTT users with their plain passwords and roles (mode 0600)."""
        return self.root / "mqtt-users.json"

    @property
    def mosquitto_conf(self) -> Path:
        """Generated mosquitto.conf."""
        return self.mosquitto_dir / "mosquitto.conf"

    @property
    def password_file(self) -> Path:
        """Hashed password file read by Mosquitto."""
        return self.mosquitto_dir / "passwd"

    @property
    def acl_file(self) -> Path:
        """Topic ACL read by Mosquitto."""
        return self.mosquitto_dir / "acl"

    @property
    def mosquitto_data(self) -> Path:
        """Mosquitto's persistence directory (mosquitto.db)."""
        return self.mosquitto_dir / "data"

    @property
    def influx_conf(self) -> Path:
        """Generated influxdb.conf."""
        return self.influx_dir / "influxdb.conf"

    def pid_file(self, service: str) -> Path:
        """Pid file of ``service``."""
        return self.run_dir / f"{service}.pid"

    def log_file(self, service: str) -> Path:
        """Main log of ``service``."""
        return self.log_dir / f"{service}.log"

    def output_file(self, service: str) -> Path:
        """Where the stdout/stderr of ``service`` go (start-up errors land here)."""
        return self.log_dir / f"{service}.out"

    def make_dirs(self) -> None:
        """Create the directories; private, because the users file holds passwords."""
        for directory in (
            self.root,
            self.run_dir,
            self.log_dir,
            self.mosquitto_dir,
            self.mosquitto_data,
            self.influx_dir,
        ):
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)


def find_binary(explicit: str | None, program: str, package: str) -> str:
    """Return the absolute path of ``program``, or raise :class:`MissingBinaryError`."""
    if explicit is not None:
        if os.access(explicit, os.X_OK):
            return explicit
        raise MissingBinaryError(explicit, package)
    found = shutil.which(program)
    if found:
        return found
    for directory in _EXTRA_BIN_DIRS:
        candidate = os.path.join(directory, program)
        if os.access(candidate, os.X_OK):
            return candidate
    raise MissingBinaryError(program, package)
