"""Bringing a new gateway on line: its MQTT login and the config file to copy to its Pi.

``tani gateways add`` registers the gateway (``registry.directory``) and then, here, gives it
an MQTT user of role "gateway" (may publish only below ``tani/v1/<gateway>/``) in one of two
places:

- the local stack (``tani stack``, state directory ``.tani`` by default): the password file
  and ACL are rewritten and the running Mosquitto reloaded (``Stack.add_mqtt_user``);
- a directory of a broker this command does not run (``--mqtt-dir``, the docker-compose
  deployment's ``data/mqtt``): ``mqtt-users.json``, ``passwd`` and ``acl`` are rewritten
  there, and the operator reloads the broker (``docker compose kill -s HUP mosquitto``).

Adding a gateway that already has a login keeps its password, so running the command again
prints the same config.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from gateway.config import GatewayConfig
from tani.stack import MqttCredentials, Stack, users
from tani.stack.process import locked, write_atomic

USERS_FILE = "mqtt-users.json"
PASSWORD_FILE = "passwd"
ACL_FILE = "acl"
_LOCK_FILE = ".lock"


def add_login_in_dir(directory: Path, username: str, role: users.Role) -> MqttCredentials:
    """Give ``username`` a login in a broker's users directory; rewrite its password file and
    ACL. An existing user of the same role keeps its password."""
    users.validate_username(username)
    directory.mkdir(parents=True, exist_ok=True)
    with locked(directory / _LOCK_FILE):
        table = users.load_users(directory / USERS_FILE)
        existing = table.get(username)
        if existing is not None and existing["role"] != role:
            raise users.MqttUserError(
                f"MQTT user {username!r} already exists with role {existing['role']!r}, "
                f"not {role!r}; pick another name."
            )
        if existing is None:
            table[username] = users.new_user(role)
            users.save_users(directory / USERS_FILE, table)
        users.write_password_file(table, directory / PASSWORD_FILE)
        write_atomic(directory / ACL_FILE, users.render_acl(table), mode=0o600)
    return users.credentials(table, username)


def add_login_on_stack(state_dir: Path, username: str) -> tuple[MqttCredentials, str, int]:
    """Give a gateway a login on the local stack; (credentials, broker host, broker port)."""
    stack = Stack.from_state_dir(state_dir)
    return stack.add_mqtt_user(username, "gateway"), stack.mqtt_host, stack.mqtt_port


def gateway_config_text(
    gateway_id: str, credentials: MqttCredentials, host: str, port: int, *, tls: bool = False
) -> str:
    """The gateway's TOML config (checked by loading it as the gateway will), devices to add."""
    text = "\n".join(
        [
            f"# Tani Hub gateway {gateway_id}: copy to the Pi as /etc/tani/gateway.toml",
            "# (readable by the tani user only: it holds the MQTT password).",
            f'gateway_id = "{gateway_id}"',
            'state_dir = "/var/lib/tani-gateway"     # the outbox lives here',
            "",
            "[mqtt]",
            f'host = "{host}"',
            f"port = {port}",
            f'username = "{credentials.username}"',
            f'password = "{credentials.password}"',
            f"tls = {'true' if tls else 'false'}",
            "",
            "# The sensors on this Pi's serial ports, for example:",
            "# [[modbus]]",
            '# port = "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_XXXX-if00-port0"',
            "# baudrate = 4800",
            '# probes = [{ device_id = "soil-1", unit = 1 }]',
            "#",
            "# [[weather]]",
            '# device_id = "weather-1"',
            '# port = "/dev/serial/by-id/usb-Prolific_PL2303-if00-port0"',
            "",
        ]
    )
    GatewayConfig(**tomllib.loads(text))
    return text
