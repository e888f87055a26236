"""``tani api`` with several worker processes: what each worker runs.

One Python process answers on one core. With ``workers = N`` in the API config, uvicorn's
supervisor keeps N worker processes on the one listening socket (and starts a worker again if
one dies); each imports :func:`worker_app`, which reads the same config file the command was
given. Every API process shares the registry and the last-value store, and keeps its caches
for a few seconds only (``auth_cache_s``, ``latest_cache_s``), so the workers agree within
those seconds; a token revoked through one worker is refused by the others within
``auth_cache_s``.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI

from api.app import create_app
from api.config import load_config
from ops.threads import exit_when_a_thread_dies
from tani import logs

CONFIG_ENV = "TANI_WORKER_CONFIG"
LOG_LEVEL_ENV = "TANI_WORKER_LOG_LEVEL"


def worker_environment(config: Path | None, log_level: str) -> dict[str, str]:
    """What the supervisor puts in the environment for its workers."""
    return {CONFIG_ENV: "" if config is None else str(config), LOG_LEVEL_ENV: log_level}


def worker_app() -> FastAPI:
    """The API of one worker process (uvicorn's factory), configured as the command was."""
    logs.configure(os.environ.get(LOG_LEVEL_ENV, "info"))
    exit_when_a_thread_dies("api")
    path = os.environ.get(CONFIG_ENV)
    return create_app(load_config(Path(path) if path else None))
