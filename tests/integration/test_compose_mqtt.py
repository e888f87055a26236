"""The MQTT side of the docker-compose deployment, on a real Mosquitto (no Docker daemon here).

- the ``mqtt-users`` step (deploy/compose/mqtt_users.py) refuses .env.example's placeholder
  secrets and writes users the real Mosquitto accepts with deploy/compose/mosquitto.conf;
- the broker's health-check command of docker-compose.yml logs in with them (and fails with a
  wrong password);
- a gateway added by ``tani gateways add --mqtt-dir`` publishes after the documented SIGHUP
  reload (``docker compose kill -s HUP mosquitto``), and ingest's user receives it;
- the image's health-check script (deploy/compose/healthcheck.py) sees real HTTP answers and
  TCP connections.

A missing ``mosquitto`` or ``mosquitto-clients`` (Debian packages) fails the test with the
package to install; it never skips.
"""

from __future__ import annotations

import http.server
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tani.stack import free_ports
from tani.stack.users import load_users

pytestmark = pytest.mark.integration

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
TANI_BIN = Path(sys.executable).with_name("tani")


# -- the MQTT users step and the broker's configuration, on a real Mosquitto ------------------

SECRETS = {
    "TANI_INGEST_MQTT__PASSWORD": "ingest-password-0123456789",
    "TANI_ALERTS_MQTT__PASSWORD": "alerts-password-0123456789",
    "TANI_MQTT_PROBE_PASSWORD": "probe-password-0123456789",
    "INFLUXDB_ADMIN_TOKEN": "token-0123456789",
}


def _mqtt_users(directory: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DEPLOY / "compose" / "mqtt_users.py"), str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": os.environ["PATH"], **env},
    )


def test_mqtt_users_refuses_placeholder_secrets(tmp_path: Path) -> None:
    result = _mqtt_users(tmp_path, {**SECRETS, "GRAFANA_ADMIN_PASSWORD": "CHANGE_ME_x"})
    assert result.returncode == 1
    assert "GRAFANA_ADMIN_PASSWORD" in result.stderr
    assert not (tmp_path / "passwd").exists()


def _tool(name: str) -> str:
    path = shutil.which(name) or (
        f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None
    )
    if path is None:
        package = "mosquitto" if name == "mosquitto" else "mosquitto-clients"
        pytest.fail(f"{name} is missing: sudo apt-get install {package}", pytrace=False)
    return path


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[tuple[int, Path, subprocess.Popen[bytes]]]:
    """compose/mosquitto.conf on a real Mosquitto: container paths moved under tmp_path."""
    auth, data = tmp_path / "mqtt", tmp_path / "data"
    data.mkdir()
    (port,) = free_ports(1)
    conf = (DEPLOY / "compose" / "mosquitto.conf").read_text()
    conf = conf.replace("/etc/tani/mqtt/", f"{auth}/").replace("/mosquitto/data/", f"{data}/")
    conf = conf.replace("listener 1883\n", f"listener {port} 127.0.0.1\n")
    if os.geteuid() == 0:
        # Mosquitto would drop root for the Debian 'mosquitto' user, who may not read
        # tmp_path (as `tani stack` does). In the container, Mosquitto's user is uid 1883, the
        # owner mqtt_users.py and the image's `tani` user give passwd and acl.
        conf += "\nuser root\n"
    (tmp_path / "mosquitto.conf").write_text(conf)
    result = _mqtt_users(auth, SECRETS)
    assert result.returncode == 0, result.stderr
    process = subprocess.Popen(
        [_tool("mosquitto"), "-c", str(tmp_path / "mosquitto.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, "mosquitto refused compose/mosquitto.conf"
                assert time.monotonic() < deadline, "mosquitto did not listen"
                time.sleep(0.1)
        yield port, auth, process
    finally:
        process.terminate()
        process.wait(timeout=20)


def _health_command(port: int) -> str:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    test = compose["services"]["mosquitto"]["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL"
    # $$ is compose's escape of a $ the container's shell expands.
    return test[1].replace("$$", "$").replace("-p 1883", f"-p {port}")


def _sh(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    path = f"{Path(_tool('mosquitto_pub')).parent}:{os.environ['PATH']}"
    return subprocess.run(
        ["sh", "-c", command],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={"PATH": path, **env},
    )


def test_broker_health_check_logs_in_with_the_written_users(
    broker: tuple[int, Path, subprocess.Popen[bytes]],
) -> None:
    port, auth, _ = broker
    users = json.loads((auth / "mqtt-users.json").read_text())["users"]
    assert {n: u["role"] for n, u in users.items()} == {
        "ingest": "service",
        "alerts": "service",
        "tani-stack-probe": "probe",
    }
    assert (auth / "acl").stat().st_mode & 0o777 == 0o600
    command = _health_command(port)
    ok = _sh(command, {"TANI_MQTT_PROBE_PASSWORD": SECRETS["TANI_MQTT_PROBE_PASSWORD"]})
    assert ok.returncode == 0, ok.stderr
    refused = _sh(command, {"TANI_MQTT_PROBE_PASSWORD": "wrong-password"})
    assert refused.returncode != 0


def test_gateway_added_to_the_mqtt_dir_works_after_sighup(
    broker: tuple[int, Path, subprocess.Popen[bytes]],
) -> None:
    """`tani gateways add ... --mqtt-dir`, then `docker compose kill -s HUP mosquitto`."""
    port, auth, process = broker
    added = subprocess.run(
        [
            str(TANI_BIN),
            *("gateways", "add", "gw-desa-01", "--name", "Pi balai desa"),
            *("--mqtt-dir", str(auth), "--broker", f"127.0.0.1:{port}", "--json"),
            *("--registry-url", f"sqlite:///{auth.parent / 'registry.sqlite3'}"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert added.returncode == 0, added.stderr
    gateway = tomllib.loads(json.loads(added.stdout)["config"])["mqtt"]
    users = load_users(auth / "mqtt-users.json")
    assert {"ingest", "alerts", "tani-stack-probe", "gw-desa-01"} <= set(users)
    process.send_signal(signal.SIGHUP)
    sub = subprocess.Popen(
        [
            _tool("mosquitto_sub"),
            *("-h", "127.0.0.1", "-p", str(port), "-u", "ingest", "-P"),
            SECRETS["TANI_INGEST_MQTT__PASSWORD"],
            *("-t", "tani/#", "-C", "1", "-W", "20", "-v"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        publish = shlex.join(
            [
                _tool("mosquitto_pub"),
                *("-h", "127.0.0.1", "-p", str(port), "-u", gateway["username"], "-P"),
                gateway["password"],
                # Retained: the subscriber gets it even if it subscribes after this.
                *("-t", "tani/v1/gw-desa-01/readings", "-m", "hello", "-q", "1", "-r"),
            ]
        )
        deadline = time.monotonic() + 15
        while (result := _sh(publish, {})).returncode != 0:  # until the reload took effect
            assert time.monotonic() < deadline, result.stderr
            time.sleep(0.2)
        out, _ = sub.communicate(timeout=30)
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait()
    assert out.strip() == "tani/v1/gw-desa-01/readings hello"


# -- the image's health-check script ------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _healthcheck(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DEPLOY / "compose" / "healthcheck.py"), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_healthcheck_script_judges_http_answers_and_connections() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    accepted, _ = listener.accept()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        assert _healthcheck("--url", f"{base}/healthz").returncode == 0
        degraded = _healthcheck("--url", f"{base}/other")
        assert degraded.returncode == 1 and "503" in degraded.stderr
        port = str(listener.getsockname()[1])
        assert _healthcheck("--connected-to", port).returncode == 0
        assert _healthcheck("--url", f"{base}/healthz", "--connected-to", port).returncode == 0
        client.close()
        accepted.close()
        (free,) = free_ports(1)
        assert _healthcheck("--connected-to", str(free)).returncode == 1
    finally:
        client.close()
        accepted.close()
        listener.close()
        server.shutdown()
        server.server_close()
        thread.join()
