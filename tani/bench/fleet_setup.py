"""What ``tani bench fleet`` prepares before the first gateway connects.

- MQTT users for thousands of gateways at once: written into the stack's users file before
  ``Stack.up`` derives Mosquitto's password file and ACL from it (one pass, the same PBKDF2
  hashing ``mosquitto_passwd`` uses), instead of one ``add_mqtt_user`` each, which rewrites
  both files and reloads the broker every time;
- the registry rows of every gateway, its field and its two devices, inserted in bulk;
- the limits on connections checked, and the file-descriptor limit raised (soft to hard)
  before the broker starts, so that Mosquitto and the load generators, which inherit it, can
  hold one descriptor per connection;
- what the machine is, for the report.
"""

from __future__ import annotations

import os
import platform
import resource
import subprocess
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from registry.models import Device, Field, Gateway, Village
from registry.store import Registry
from storage.influx import InfluxDB
from tani.bench.fleet_field import SOIL_DEVICE, WEATHER_DEVICE
from tani.stack import Stack
from tani.stack.config import find_binary
from tani.stack.users import load_users, new_user, save_users

GATEWAYS_PER_VILLAGE = 20
INGEST_USER = "bench-ingest"
# Descriptors beyond the connections: Mosquitto's listener, logs and database; the load
# generators' pipes and selectors.
_FD_HEADROOM = 256


def gateway_ids(count: int) -> tuple[str, ...]:
    """The fleet's gateway ids (= MQTT user names)."""
    return tuple(f"gw-fleet-{n:05d}" for n in range(count))


def prepare_limits(connections: int) -> dict[str, Any]:
    """Check that the box can hold ``connections``; raise the descriptor limit children inherit.

    Mosquitto holds one descriptor per connection and, the broker being local, every connection
    also takes one ephemeral port. The soft descriptor limit goes up to the hard one (the
    Mosquitto this process starts inherits it; Mosquitto's own max_connections is unlimited by
    default). Raises ValueError when the box cannot.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < connections + _FD_HEADROOM:
        raise ValueError(
            f"{connections} connections need {connections + _FD_HEADROOM} file descriptors in "
            f"Mosquitto; the hard limit (ulimit -Hn) is {hard}"
        )
    low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    ports = int(high) - int(low) + 1
    if connections > ports:
        raise ValueError(
            f"{connections} connections need as many local ports; the ephemeral range "
            f"(net.ipv4.ip_local_port_range) has {ports}"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return {
        "file_descriptors": {"soft_before": soft, "soft_now": hard, "hard": hard},
        "ephemeral_ports": ports,
        "somaxconn": int(Path("/proc/sys/net/core/somaxconn").read_text()),
    }


def add_users(stack: Stack, gateways: tuple[str, ...]) -> dict[str, str]:
    """Put the ingest user and every gateway in the stack's users file (before ``up``).

    Returns {gateway id: password}. ``Stack.up`` then writes the password file and the ACL
    (a gateway publishes only below tani/v1/<its id>/ and reads only its acks) for all of them.
    """
    stack.paths.make_dirs()
    table = load_users(stack.paths.users_file)
    table.setdefault(INGEST_USER, new_user("service"))
    for gateway_id in gateways:
        table.setdefault(gateway_id, new_user("gateway"))
    save_users(stack.paths.users_file, table)
    return {gateway_id: table[gateway_id]["password"] for gateway_id in gateways}


def fill_registry(path: Path, gateways: tuple[str, ...]) -> None:
    """Register every gateway with its field and devices, so ingest tags and stores them."""
    registry = Registry.from_path(path)
    try:
        villages = -(-len(gateways) // GATEWAYS_PER_VILLAGE)
        village_of = [f"desa-fleet-{n // GATEWAYS_PER_VILLAGE:04d}" for n in range(len(gateways))]
        with registry.engine.begin() as connection:
            connection.execute(
                insert(Village),
                [{"id": f"desa-fleet-{v:04d}", "name": f"Desa {v}"} for v in range(villages)],
            )
            connection.execute(
                insert(Field),
                [
                    {"id": f"lahan-{g}", "name": g, "village_id": village, "crop": "padi"}
                    for g, village in zip(gateways, village_of, strict=True)
                ],
            )
            connection.execute(
                insert(Gateway),
                [
                    {"id": g, "name": g, "village_id": village}
                    for g, village in zip(gateways, village_of, strict=True)
                ],
            )
            connection.execute(
                insert(Device),
                [
                    {"gateway_id": g, "id": device, "kind": kind, "field_id": f"lahan-{g}"}
                    for g in gateways
                    for device, kind in (
                        (SOIL_DEVICE, "modbus_soil"),
                        (WEATHER_DEVICE, "ascii_weather"),
                    )
                ],
            )
    finally:
        registry.close()


def machine(stack: Stack, limits: dict[str, Any]) -> dict[str, Any]:
    """The machine, its server versions and the limits on connections."""
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if "model name" in ln), "")
    influx = InfluxDB(stack.influx_url, "_internal")
    try:
        influx_version = influx.ping()
    finally:
        influx.close()
    mosquitto = subprocess.run(
        [find_binary(None, "mosquitto", "mosquitto"), "-h"], capture_output=True, text=True
    )
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "shared": "other engineers' benchmarks may run on the same cores",
        "python": platform.python_version(),
        "influxdb": influx_version,
        "mosquitto": (mosquitto.stdout or mosquitto.stderr).splitlines()[0],
        "limits": limits,
    }
