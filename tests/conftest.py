"""Shared fixtures: free ports and a real Mosquitto + influxd stack in a temporary directory.

The ``stack`` fixture starts the same code as `tani stack up`, once per test session, on free
ports; every integration test that needs a broker or a database uses it. Nothing is faked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher, profiles

from registry import access
from tani.stack import MissingBinaryError, Stack, StackConfig, free_ports
from tani.stack.config import find_binary

_HOST = "127.0.0.1"


def stack_processes(state_dir: Path) -> list[str]:
    """Live mosquitto/influxd processes whose command line mentions ``state_dir``.

    Read straight from /proc, independently of the code under test. Zombies have an empty
    cmdline and so do not count (they are already dead).
    """
    needle = str(state_dir)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
            argv = [arg.decode(errors="replace") for arg in raw.split(b"\0")]
        except OSError:
            continue
        if (
            argv
            and Path(argv[0]).name in ("mosquitto", "influxd")
            and any(needle in arg for arg in argv)
        ):
            found.append(f"pid {entry.name}: {' '.join(argv)}")
    return found


def require_stack_binaries() -> None:
    """Fail (never skip) the test when the Debian packages of the stack are missing."""
    try:
        find_binary(None, "mosquitto", "mosquitto")
        find_binary(None, "influxd", "influxdb")
    except MissingBinaryError as exc:
        pytest.fail(
            f"{exc}\nThe integration tests run a real Mosquitto and influxd. Run `make test` "
            "(it checks the prerequisites) or: sudo apt-get install mosquitto influxdb",
            pytrace=False,
        )


def make_stack(state_dir: Path) -> Stack:
    """A (not yet started) Stack in ``state_dir`` on three free loopback ports."""
    mqtt_port, influx_port, rpc_port = free_ports(3)
    return Stack(
        StackConfig(
            state_dir=state_dir,
            host=_HOST,
            mqtt_port=mqtt_port,
            influx_port=influx_port,
            influx_rpc_port=rpc_port,
        )
    )


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashing() -> Iterator[None]:
    """argon2id at its cheapest in this test process (0.1 ms a hash instead of 110 ms).

    Everything about passwords but their cost is unchanged; services the tests start as their
    own processes, and tests/unit/test_access.py's ``real_password_hashing``, keep RFC 9106's
    profile.
    """
    real = access._hasher
    access._hasher = PasswordHasher.from_parameters(profiles.CHEAPEST)
    yield
    access._hasher = real


@pytest.fixture
def free_port() -> Callable[[], int]:
    """A function returning one free TCP port on 127.0.0.1 per call."""
    return lambda: free_ports(1)[0]


@pytest.fixture(name="stack_processes")
def stack_processes_fixture() -> Callable[[Path], list[str]]:
    """:func:`stack_processes`: live mosquitto/influxd processes of a state directory."""
    return stack_processes


@pytest.fixture
def private_stack(tmp_path: Path) -> Iterator[Stack]:
    """A stack of the test's own, not started, for tests that start and stop it themselves.

    Stopped afterwards, checking that nothing of it is left running.
    """
    require_stack_binaries()
    private = make_stack(tmp_path / "state")
    yield private
    private.down()
    leftover = stack_processes(private.paths.root)
    assert not leftover, f"stack processes left after down(): {leftover}"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The session's running stack: Mosquitto and influxd answering, on free ports.

    Add MQTT users with ``stack.add_mqtt_user(name, "gateway" | "service")``; InfluxDB is at
    ``stack.influx_url``. Stopped at the end of the session, checking nothing is left.
    """
    require_stack_binaries()
    running = make_stack(tmp_path_factory.mktemp("stack"))
    try:
        running.up(timeout=30.0)
        yield running
    finally:
        running.down()
        leftover = stack_processes(running.paths.root)
        assert not leftover, f"stack processes left after down(): {leftover}"
