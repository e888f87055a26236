"""Liveness of the API and of what it depends on."""

from __future__ import annotations

import socket

from fastapi import APIRouter, Response

from api.deps import ConfigDep, InfluxDep
from api.schemas import DependencyHealth, HealthPublic
from storage.influx import InfluxError

router = APIRouter(tags=["health"])


def _broker_health(host: str, port: int) -> DependencyHealth:
    # A TCP connect: the API deliberately holds no MQTT session of its own.
    try:
        with socket.create_connection((host, port), timeout=2):
            return DependencyHealth(ok=True, detail=f"{host}:{port} accepts connections")
    except OSError as exc:
        return DependencyHealth(ok=False, detail=f"{host}:{port}: {exc}")


@router.get("/healthz", response_model=HealthPublic)
def healthz(config: ConfigDep, influx: InfluxDep, response: Response) -> HealthPublic:
    """Whether the broker and InfluxDB answer; 503 when either does not."""
    broker = _broker_health(config.broker.host, config.broker.port)
    try:
        influxdb = DependencyHealth(ok=True, detail=f"InfluxDB {influx.ping()}")
    except InfluxError as exc:
        influxdb = DependencyHealth(ok=False, detail=str(exc))
    healthy = broker.ok and influxdb.ok
    if not healthy:
        response.status_code = 503
    return HealthPublic(status="ok" if healthy else "degraded", broker=broker, influxdb=influxdb)
