"""Request dependencies, as ``Annotated`` aliases the routers share."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.config import ApiConfig
from registry.store import Registry
from storage.influx import InfluxDB


def _config(request: Request) -> ApiConfig:
    return request.app.state.config


def _influx(request: Request) -> InfluxDB:
    return request.app.state.influx


def _registry(request: Request) -> Registry:
    return request.app.state.registry


# Ids are 64-bit integers in the database: a larger number in a path is a 422, not a
# database error.
MAX_ROW_ID = 2**63 - 1

ConfigDep = Annotated[ApiConfig, Depends(_config)]
InfluxDep = Annotated[InfluxDB, Depends(_influx)]
RegistryDep = Annotated[Registry, Depends(_registry)]
