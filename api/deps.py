"""Request dependencies, as ``Annotated`` aliases the routers share.

Dependencies that do no I/O are ``async def``: FastAPI runs a plain ``def`` dependency on its
thread pool, a hand-over per dependency per request that showed in the API's latency under load.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from api.config import ApiConfig
from api.latest import LatestReadings
from api.village_numbers import VillageNumbers
from registry.store import Registry
from storage.influx import InfluxDB


async def _config(request: Request) -> ApiConfig:
    return request.app.state.config


async def _influx(request: Request) -> InfluxDB:
    return request.app.state.influx


async def _latest(request: Request) -> LatestReadings:
    return request.app.state.latest


async def _village_numbers(request: Request) -> VillageNumbers:
    return request.app.state.village_numbers


async def _registry(request: Request) -> Registry:
    return request.app.state.registry


# Ids are 64-bit integers in the database: a larger number in a path is a 422, not a
# database error.
MAX_ROW_ID = 2**63 - 1
# Registry ids in paths: lower-case letters, digits, "-" and "_" (registry.store.Identifier).
_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
FieldId = Annotated[str, Path(pattern=_ID_PATTERN, description="Field id")]
VillageId = Annotated[str, Path(pattern=_ID_PATTERN, description="Village id")]

ConfigDep = Annotated[ApiConfig, Depends(_config)]
InfluxDep = Annotated[InfluxDB, Depends(_influx)]
LatestDep = Annotated[LatestReadings, Depends(_latest)]
VillageNumbersDep = Annotated[VillageNumbers, Depends(_village_numbers)]
RegistryDep = Annotated[Registry, Depends(_registry)]
