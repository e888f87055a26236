"""Exceptions of the local stack, each with a message a village technician can act on."""

from __future__ import annotations


class StackError(Exception):
    """Base class of every error raised by ``tani.stack``."""


class StackConfigError(StackError, ValueError):
    """The stack configuration cannot work (bad host, bad path, clashing ports)."""


class MissingBinaryError(StackError):
    """A program of the stack (mosquitto, influxd) is not installed."""

    def __init__(self, program: str, package: str) -> None:
        self.program = program
        self.package = package
        super().__init__(
            f"'{program}' was not found (looked in PATH, /usr/sbin and /usr/local/sbin). "
            f"Install the Debian package: sudo apt-get install {package}  "
            "(or run `make test`, which checks the test prerequisites)."
        )


class StartError(StackError):
    """A service of the stack did not come up. ``log_tail`` holds its last log lines."""

    def __init__(self, service: str, message: str, log_tail: str = "") -> None:
        self.service = service
        self.log_tail = log_tail
        text = f"{service}: {message}"
        if log_tail:
            text += f"\n--- last lines of the {service} log ---\n{log_tail}"
        super().__init__(text)


class PortInUseError(StartError):
    """Another program already listens on a port the stack needs."""

    def __init__(self, service: str, host: str, port: int, log_tail: str = "") -> None:
        self.host = host
        self.port = port
        super().__init__(
            service,
            f"port {port} on {host} is already in use by another program. Stop that program "
            f"(see `ss -ltnp | grep :{port}`) or give the stack another port.",
            log_tail,
        )


class ServiceExitedError(StartError):
    """A service process exited while the stack was starting it."""


class ServiceTimeoutError(StartError):
    """A service process runs but did not answer within the time allowed."""


class ConfigMismatchError(StartError):
    """A service of this state directory already runs with another configuration."""


class StopError(StackError):
    """A service process could not be stopped, not even with SIGKILL."""


class MqttUserError(StackError, ValueError):
    """An MQTT user name is invalid, reserved, unknown, or already has another role."""
