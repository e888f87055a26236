"""Building the FastAPI application."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse

from api.auth import LoginThrottle
from api.config import ApiConfig
from api.kept_answer import GZIP_MIN_BYTES
from api.latest import LatestReadings
from api.latest_fast_path import LatestFastPath
from api.metrics import ApiMetrics, RequestMetrics
from api.routers import (
    ack,
    admin,
    agronomy,
    alert_pages,
    alerts,
    auth,
    farmer_pages,
    fields,
    health,
    history,
    record_pages,
    records,
    village_pages,
    water,
    web_login,
)
from api.token_uses import TokenUses
from api.ttl_cache import TtlCache
from api.village_numbers import VillageNumbers
from registry.store import Registry
from storage.influx import InfluxDB
from storage.last_values import LastValues, default_url

log = logging.getLogger(__name__)


async def _invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422, without echoing the bad input back.

    A body may hold a password or a channel URL with a bot token in it, and responses end up in
    logs and screenshots; the client knows what it sent.
    """
    errors = [{k: v for k, v in error.items() if k != "input"} for error in exc.errors()]
    return JSONResponse(status_code=422, content={"detail": jsonable_encoder(errors)})


def _caches(app: FastAPI) -> list[TtlCache[Any, Any]]:
    """The caches whose hits and misses the metrics report, as the running app has them."""
    state = app.state
    return [state.principals, *state.latest.caches, state.village_numbers.cache]


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
        app.state.village_numbers = VillageNumbers(app.state.influx, config.summary_cache_s)
        app.state.last_values = LastValues(
            config.last_values_url or default_url(config.registry_url)
        )
        app.state.latest = LatestReadings(
            app.state.influx,
            app.state.registry,
            config.latest_cache_s,
            store=app.state.last_values,
        )
        app.state.token_uses = TokenUses(app.state.registry)
        stop_writing_uses = threading.Event()
        uses_writer = threading.Thread(
            target=app.state.token_uses.write_every,
            args=(stop_writing_uses,),
            name="api-token-uses",
            daemon=True,
        )
        uses_writer.start()
        try:
            if metrics is not None and config.metrics_port is not None:
                port = metrics.serve(config.metrics_host, config.metrics_port)
                log.info(
                    "metrics served",
                    extra={"url": f"http://{config.metrics_host}:{port}/metrics"},
                )
            yield
        finally:
            stop_writing_uses.set()
            uses_writer.join()
            if metrics is not None:
                metrics.close()
            app.state.influx.close()
            app.state.last_values.close()
            app.state.registry.close()

    app = FastAPI(
        title="Tani Hub API",
        description="Kondisi lahan dari sensor tanah dan cuaca / field conditions from soil and "
        "weather sensors.",
        version="1",
        lifespan=lifespan,
    )
    # Per application, so each app (and each test's) counts its own failed logins.
    app.state.login_throttle = LoginThrottle()
    app.state.principals = TtlCache(config.auth_cache_s, name="auth")
    app.add_exception_handler(RequestValidationError, _invalid_request)
    # Pages and CSV go out compressed: a field page with its charts is ~27 KB, ~7 KB gzipped,
    # on a prepaid phone link.
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MIN_BYTES)
    # Outside the app's routing and compression: a kept answer is sent as it was kept.
    app.add_middleware(LatestFastPath, state=app.state, routes=fields.router.routes)
    # Outermost, so the time includes compression; none at all unless metrics are served.
    metrics = None if config.metrics_port is None else ApiMetrics(lambda: _caches(app))
    app.state.metrics = metrics
    if metrics is not None:
        app.add_middleware(RequestMetrics, metrics=metrics, routes=app.routes)
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(fields.router)
    app.include_router(history.router)
    app.include_router(records.router)
    app.include_router(water.router)
    app.include_router(agronomy.router)
    app.include_router(alerts.router)
    app.include_router(admin.router)
    app.include_router(ack.router)
    app.include_router(web_login.router)
    app.include_router(alert_pages.router)
    app.include_router(farmer_pages.router)
    app.include_router(village_pages.router)
    app.include_router(record_pages.router)
    return app
