"""Building the FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.config import ApiConfig
from api.routers import fields, health
from registry.store import Registry
from storage.influx import InfluxDB


def create_app(config: ApiConfig) -> FastAPI:
    """The API with its long-lived InfluxDB client and registry connection."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.config = config
        app.state.influx = InfluxDB(
            config.influx.url,
            config.influx.database,
            username=config.influx.username,
            password=config.influx.password,
            token=config.influx.token,
        )
        app.state.registry = Registry(config.registry_url)
        try:
            yield
        finally:
            app.state.influx.close()
            app.state.registry.close()

    app = FastAPI(
        title="Tani Hub API",
        description="Kondisi lahan dari sensor tanah dan cuaca / field conditions from soil and "
        "weather sensors.",
        version="1",
        lifespan=lifespan,
    )
    app.include_router(health.router)
    app.include_router(fields.router)
    return app
