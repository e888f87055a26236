"""Faults on the stack's own services: stop or ``kill -9`` Mosquitto or influxd, start them again.

``Stack.up()`` starts whatever is not running, which is how a service comes back. One scenario
needs Mosquitto back while influxd stays down; the stack has no per-service start, so
:func:`start_mosquitto_only` runs the same command line ``Stack.up()`` would, with the same pid
file and log, through ``tani.stack.process`` (``stack.status()`` and ``stack.down()`` find it
like any other).
"""

from __future__ import annotations

import os
import signal
import time

from tani.stack import Stack, StackError
from tani.stack import process as stack_process
from tani.stack.config import find_binary
from tani.stack.process import ServiceSpec

MOSQUITTO = "mosquitto"
INFLUXD = "influxd"


class ServiceFaultError(RuntimeError):
    """A service could not be stopped or started as the scenario needs."""


def _pid(stack: Stack, name: str) -> int | None:
    status = stack.status()
    return status.mosquitto.pid if name == MOSQUITTO else status.influxd.pid


def _wait_gone(stack: Stack, name: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while _pid(stack, name) is not None:
        if time.monotonic() > deadline:
            raise ServiceFaultError(f"{name} still runs {timeout_s:.0f} s after the signal")
        time.sleep(0.05)


def signal_service(stack: Stack, name: str, sig: signal.Signals) -> int:
    """Send ``sig`` to the stack's ``name`` and wait until it is gone; returns its pid."""
    pid = _pid(stack, name)
    if pid is None:
        raise ServiceFaultError(f"{name} is not running: nothing to stop")
    os.kill(pid, sig)
    _wait_gone(stack, name)
    return pid


def bring_back(stack: Stack) -> float:
    """Start whatever of the stack is not running; seconds until both answer."""
    started = time.monotonic()
    try:
        stack.up(timeout=60.0)
    except StackError as exc:
        raise ServiceFaultError(f"the stack did not come back: {exc}") from exc
    return time.monotonic() - started


def start_mosquitto_only(stack: Stack, timeout_s: float = 30.0) -> float:
    """Start Mosquitto (as ``Stack.up`` would) and not influxd; seconds until it answers."""
    started = time.monotonic()
    paths = stack.paths
    spec = ServiceSpec(
        MOSQUITTO,
        "mosquitto",
        paths.mosquitto_conf,
        paths.pid_file(MOSQUITTO),
        (paths.output_file(MOSQUITTO), paths.log_file(MOSQUITTO)),
        repeat_sigterm=True,
    )
    binary = find_binary(stack.config.mosquitto_bin, "mosquitto", "mosquitto")
    stack_process.start(
        [binary, "-c", str(paths.mosquitto_conf)], spec, paths.output_file(MOSQUITTO)
    )
    deadline = time.monotonic() + timeout_s
    while not stack.status().mosquitto.answering:
        if time.monotonic() > deadline:
            raise ServiceFaultError(f"mosquitto did not answer within {timeout_s:.0f} s")
        time.sleep(0.05)
    return time.monotonic() - started
