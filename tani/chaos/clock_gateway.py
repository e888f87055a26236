"""``tani gateway`` on a machine whose clock a chaos scenario sets: the clock scenarios.

A Pi's clock goes wrong underneath the gateway: fake-hwclock restores an old time, NTP is
unreachable, then NTP steps the clock. Moving this machine's clock would move it for every
process here (and needs privileges), and libfaketime is not installed. ``SystemClock`` takes
the wall clock and the kernel's NTP state as parameters, so this launcher runs what
``tani gateway`` runs (same TOML, same ``Gateway``, a ``SystemClock`` with the configured floor,
server-time and NTP logic) with both read from a :class:`ScriptedMachine`, and the boot id
given on the command line. The scenario writes the script to a small JSON file, re-read every
0.1 s::

    {"offset_ms": 172800000, "ntp": false}     (the wall clock is 2 days behind, no NTP)
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

_REREAD_S = 0.1


class ScriptedMachine:
    """The machine's wall clock and NTP state, as the control file says."""

    def __init__(self, control: Path) -> None:
        self._control = control
        self._offset_ns = 0
        self._ntp = False
        self._read()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="scripted-clock", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            data = json.loads(self._control.read_text())
        except (OSError, ValueError):
            return  # the scenario replaces the file atomically; keep the last good state
        self._offset_ns = int(data["offset_ms"]) * 1_000_000
        self._ntp = bool(data["ntp"])

    def _follow(self) -> None:
        while not self._stop.wait(_REREAD_S):
            self._read()

    def time_ns(self) -> int:
        """The wall clock: the real one minus the scripted offset."""
        return time.time_ns() - self._offset_ns

    def ntp_synchronised(self) -> bool:
        """What adjtimex would say."""
        return self._ntp

    def close(self) -> None:
        """Stop following the control file."""
        self._stop.set()
        self._thread.join()


def main() -> None:
    """``tani gateway`` with the wall clock and NTP state of a :class:`ScriptedMachine`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--control", type=Path, required=True)
    parser.add_argument("--boot-id", required=True)
    parser.add_argument("--log-level", default="info")
    options = parser.parse_args()

    from gateway.clock import SystemClock
    from gateway.config import load_config
    from gateway.service import Gateway
    from ops.threads import exit_when_a_thread_dies
    from tani import logs
    from tani.cli_support import load_or_exit, wait_for_stop

    logs.configure(options.log_level)
    exit_when_a_thread_dies("gateway")
    config = load_or_exit(load_config, options.config)
    machine = ScriptedMachine(options.control)
    # As Gateway builds its SystemClock from [clock], with the machine's clock replaced.
    floor = datetime.combine(config.clock.floor, datetime.min.time(), UTC)
    clock = SystemClock(
        int(floor.timestamp()) * 1000,
        config.clock.trust_after_floor,
        wall_ns=machine.time_ns,
        ntp_synchronised=machine.ntp_synchronised,
    )
    clock.boot_id = options.boot_id
    service = Gateway(config, clock=clock)
    service.start()
    wait_for_stop()
    service.stop()
    machine.close()
