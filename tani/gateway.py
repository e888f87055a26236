"""The gateway's own command, as a Pi runs it: ``python -m tani.gateway --config gateway.toml``.

``tani gateway`` runs the same :func:`run`, but the ``tani`` command imports typer, click and
pydantic for its other commands, about 13 MB that a gateway never uses, so the systemd unit
(deploy/gateway/tani-gateway.service) and ``tani bench gateway`` start this module instead. It
imports the standard library, the gateway and what the configured buses need, nothing else.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import sys
import threading
import tomllib
from pathlib import Path

from gateway.config import GatewayConfig, load_config
from gateway.settings import ConfigError
from ops.threads import exit_when_a_thread_dies
from tani import logs

EXIT_BAD_CONFIG = 2
# mallopt(3): M_ARENA_MAX. glibc gives a thread that allocates an arena of its own, up to eight
# per core; the gateway's dozen mostly idle threads then hold half-used arenas (0.5 MB measured
# by `tani bench gateway`). Two arenas are plenty at a gateway's rates.
_M_ARENA_MAX = -8
MALLOC_ARENAS = 2


def read_config(path: Path) -> GatewayConfig:
    """The checked configuration, or exit 2 after saying what is wrong (as ``tani`` does)."""
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"Konfigurasi salah / invalid configuration in {path}:", file=sys.stderr)
        for key, message in exc.problems:
            print(f"  {key}: {message}", file=sys.stderr)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        print(f"Konfigurasi tidak terbaca / cannot read {path}: {exc}", file=sys.stderr)
    sys.exit(EXIT_BAD_CONFIG)


def run(config_path: Path, log_level: str) -> None:
    """Run a gateway until SIGINT or SIGTERM, then stop it cleanly."""
    from gateway.service import Gateway

    # Before any thread starts; without glibc (musl) there is no such knob, and no need.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(_M_ARENA_MAX, MALLOC_ARENAS)
    logs.configure(log_level)
    exit_when_a_thread_dies("gateway")
    service = Gateway(read_config(config_path))
    # The handlers are set before the start: systemd may stop us as soon as we say READY.
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    service.start()
    stop.wait()
    service.stop()


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run."""
    parser = argparse.ArgumentParser(
        prog="python -m tani.gateway",
        description="Run a gateway: poll serial devices, publish readings over MQTT.",
    )
    parser.add_argument("--config", "-c", type=Path, required=True, help="TOML file.")
    parser.add_argument(
        "--log-level",
        default=os.environ.get("TANI_LOG_LEVEL", "info"),
        help="debug, info, warning, error (default: $TANI_LOG_LEVEL or info).",
    )
    options = parser.parse_args(argv)
    run(options.config, options.log_level)


if __name__ == "__main__":
    main()
