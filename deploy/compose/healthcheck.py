"""Container health checks of the Tani Hub image (python:3.11-slim has no curl or nc).

    healthcheck.py --url http://127.0.0.1:8000/healthz       an HTTP answer 200-399
    healthcheck.py --connected-to 1883                        an ESTABLISHED TCP connection to
                                                              port 1883 (the MQTT broker)

Options repeat and combine; every check must pass (exit 0), else the first failure is printed
and the exit code is 1. ``--connected-to`` reads /proc/net/tcp and /proc/net/tcp6: inside a
container they list only that container's own connections, so it proves that the service
itself holds a connection to the broker (the paho client reconnects by itself; a wrong password
or a broker that is down leaves none).
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from pathlib import Path

_ESTABLISHED = "01"
_PROC_TABLES = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))


def check_url(url: str, timeout_s: float) -> str | None:
    """None when ``url`` answers 200-399, else what went wrong."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        return f"{url} answered {exc.code}"
    except (OSError, ValueError) as exc:
        return f"{url} did not answer: {exc}"
    return None if 200 <= status < 400 else f"{url} answered {status}"


def established_remote_ports(tables: tuple[Path, ...] = _PROC_TABLES) -> set[int]:
    """Remote ports of this network namespace's ESTABLISHED TCP connections."""
    ports: set[int] = set()
    for table in tables:
        try:
            lines = table.read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 3 and parts[3] == _ESTABLISHED:
                ports.add(int(parts[2].rsplit(":", 1)[1], 16))
    return ports


def main(argv: list[str] | None = None) -> int:
    """Run the checks named on the command line; 0 when all pass."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", action="append", default=[], help="must answer 200-399")
    parser.add_argument(
        "--connected-to",
        type=int,
        action="append",
        default=[],
        metavar="PORT",
        help="an established TCP connection to this remote port must exist",
    )
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per URL")
    args = parser.parse_args(argv)
    if not args.url and not args.connected_to:
        parser.error("nothing to check: give --url and/or --connected-to")
    problems = [p for url in args.url if (p := check_url(url, args.timeout)) is not None]
    if args.connected_to:
        ports = established_remote_ports()
        problems += [
            f"no established connection to port {port}"
            for port in args.connected_to
            if port not in ports
        ]
    if problems:
        print("unhealthy: " + "; ".join(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
