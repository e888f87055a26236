"""The local stack: real Mosquitto and influxd (Debian packages) as background processes.

Usage::

    stack = Stack(StackConfig(state_dir=Path(".tani")))
    stack.up()                                     # returns when both answer
    gw = stack.add_mqtt_user("gw-a", "gateway")    # may publish to tani/v1/gw-a/#
    ...
    stack.down()

All state (configs, data, logs, pid files, MQTT users) lives under ``state_dir``::

    stack.json                 the StackConfig of the last `up` (Stack.from_state_dir)
    mqtt-users.json            users, roles, plain passwords (0600)
    mosquitto/                 mosquitto.conf, passwd, acl, data/mosquitto.db
    influxdb/                  influxdb.conf, meta/, data/, wal/
    run/                       mosquitto.pid, influxd.pid, stack.lock
    log/                       mosquitto.log, mosquitto.out (its stderr), influxd.log
"""

from tani.stack.config import StackConfig
from tani.stack.errors import (
    ConfigMismatchError,
    MissingBinaryError,
    MqttUserError,
    PortInUseError,
    ServiceExitedError,
    ServiceTimeoutError,
    StackConfigError,
    StackError,
    StartError,
    StopError,
)
from tani.stack.process import free_ports
from tani.stack.supervisor import ServiceStatus, Stack, StackStatus
from tani.stack.users import MqttCredentials, Role

__all__ = [
    "ConfigMismatchError",
    "MissingBinaryError",
    "MqttCredentials",
    "MqttUserError",
    "PortInUseError",
    "Role",
    "ServiceExitedError",
    "ServiceStatus",
    "ServiceTimeoutError",
    "Stack",
    "StackConfig",
    "StackConfigError",
    "StackError",
    "StackStatus",
    "StartError",
    "StopError",
    "free_ports",
]
