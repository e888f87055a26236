"""``tani api`` with ``workers = 2``: two processes answer on one port, stop together on SIGTERM,
and a dead worker is replaced."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from api.config import ApiConfig
from registry.store import Registry
from tani.bench.wire import child_pids
from tani.stack import free_ports

pytestmark = pytest.mark.integration


def _workers(supervisor: int) -> list[int]:
    pids = []
    for child in child_pids(supervisor):
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        if b"multiprocessing" in cmdline and b"resource_tracker" not in cmdline:
            pids.append(child)
    return pids


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _wait_for(what: str, check, timeout_s: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.1)
    raise AssertionError(f"no {what} within {timeout_s} s")


def test_two_workers_answer_stop_together_and_a_dead_one_is_replaced(tmp_path: Path) -> None:
    registry_url = f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    Registry(registry_url).close()
    (port,) = free_ports(1)
    config = tmp_path / "api.toml"
    config.write_text(
        f'host = "127.0.0.1"\nport = {port}\nregistry_url = "{registry_url}"\nworkers = 2\n'
        '[influx]\nurl = "http://127.0.0.1:9"\n'
    )
    log = (tmp_path / "api.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", "from tani.cli import app; app()", "api", "--config", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        workers = _wait_for("2 workers", lambda: len(w := _workers(process.pid)) == 2 and w)

        def answered() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code in (
                    200,
                    503,
                )
            except httpx.HTTPError:
                return False

        _wait_for("answer on the port", answered)
        os.kill(workers[0], signal.SIGKILL)
        workers = _wait_for(
            "replacement worker",
            lambda: len(w := _workers(process.pid)) == 2 and workers[0] not in w and w,
        )
        _wait_for("answer after the replacement", answered)
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
        assert all(not _running(pid) for pid in workers)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()


def test_metrics_port_with_several_workers_is_refused() -> None:
    with pytest.raises(ValueError, match="workers = 1"):
        ApiConfig(workers=2, metrics_port=9465)
    assert ApiConfig(workers=2).workers == 2
