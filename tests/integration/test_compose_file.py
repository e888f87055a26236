"""The server deployment of deploy/: docker-compose.yml, .env.example, Dockerfile, compose/.

No Docker daemon runs on the test machines, so no image is built and no container started.
What can be checked without one is checked for real:

- ``docker-compose config`` (Debian package ``docker-compose``, 1.29, which validates against
  the Compose Specification) accepts the file with deploy/.env.example and resolves it to the
  expected services, health checks, restart policies, start order and named volumes;
- the file, raw and resolved, validates against that package's compose_spec.json with a JSON
  Schema library of the dev environment (``jsonschema``, else ``jsonschema_rs``; if neither
  is importable only docker-compose's own schema check applies);
- every file the compose file bind-mounts exists in the repository (the data directory of
  .env's TANI_DATA_DIR excepted), and the Dockerfile's build context keeps every package
  pyproject.toml lists;
- the service commands, and the ``tani`` commands deploy/README.md has the operator run, are
  real ``tani`` commands (``tani <command> --help``); each service's TOML file plus the
  environment compose gives it passes the service's own config check;
- (test_compose_mqtt.py) the ``mqtt-users`` step, compose/mosquitto.conf and the broker's
  health check on a real Mosquitto, and the image's health-check script.

A missing ``docker-compose`` (Debian package) fails the test with the package to install; it
never skips.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
ENV_EXAMPLE = DEPLOY / ".env.example"
DOCKERFILE = DEPLOY / "Dockerfile"
TANI_BIN = Path(sys.executable).with_name("tani")

TANI_SERVICES = ("api", "ingest", "alerts")
LONG_RUNNING = ("mosquitto", "influxdb", "grafana", *TANI_SERVICES)
NAMED_VOLUMES = {
    "mosquitto-data",
    "influxdb-data",
    "influxdb-config",
    "grafana-data",
    "tani-registry",
}
REGISTRY_URL = "sqlite:////var/lib/tani/registry.sqlite3"
MQTT_DIR_IN_API = "/srv/tani/data/mqtt"
# (module of the config, the TOML file inside the container) of each Tani service.
CONFIGS = {
    "api": ("api.config", "/etc/tani/api.toml"),
    "ingest": ("ingest.config", "/etc/tani/ingest.toml"),
    "alerts": ("alerts.config", "/etc/tani/alerts.toml"),
}
# Where each service serves Prometheus /metrics (deploy/README.md, "Ops metrics").
METRICS_PORTS = {"ingest": 9464, "api": 9465, "alerts": 9466}


def _env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def _docker_compose() -> str:
    path = shutil.which("docker-compose")
    if path is None:
        pytest.fail(
            "docker-compose is not installed: this test checks deploy/docker-compose.yml with "
            "it. Install the Debian package: sudo apt-get install docker-compose",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="module")
def resolved() -> dict[str, Any]:
    """``docker-compose config`` of the file with .env.example, parsed."""
    result = subprocess.run(
        [_docker_compose(), "-f", str(COMPOSE_FILE), "--env-file", str(ENV_EXAMPLE), "config"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=DEPLOY,
    )
    assert result.returncode == 0, f"docker-compose config failed:\n{result.stderr}"
    return yaml.safe_load(result.stdout)


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> source (host path or volume name) of a resolved service."""
    mounts = {}
    for entry in service.get("volumes", []):
        if isinstance(entry, dict):
            mounts[entry["target"]] = entry.get("source", "")
        else:
            source, target = entry.split(":")[:2]
            mounts[target] = source
    return mounts


def test_config_resolves_to_the_expected_services(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    assert set(services) == {"mqtt-users", *LONG_RUNNING}
    assert services["mosquitto"]["image"] == "eclipse-mosquitto:2"
    assert services["influxdb"]["image"] == "influxdb:2.7"
    assert re.fullmatch(r"grafana/grafana-oss:\d+(\.\d+)*", services["grafana"]["image"])
    for name in ("mqtt-users", *TANI_SERVICES):
        build = services[name]["build"]
        assert Path(build["context"]) == ROOT
        assert (ROOT / build["dockerfile"]).resolve() == DOCKERFILE
        assert services[name]["image"] == "tani-hub:local"
    assert services["api"]["ports"][0]["target"] == 8000


def test_every_long_running_service_has_a_health_check_and_restarts(
    resolved: dict[str, Any],
) -> None:
    services = resolved["services"]
    for name in LONG_RUNNING:
        service = services[name]
        check = service.get("healthcheck", {})
        assert check.get("test") and not check.get("disable"), f"{name}: no health check"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert service["restart"] == "unless-stopped", name
    # The one-shot step runs to completion once per `up`; the broker waits for it.
    assert services["mqtt-users"]["restart"] == "no"
    assert "healthcheck" not in services["mqtt-users"]


def test_services_start_in_order_on_healthy_dependencies(resolved: dict[str, Any]) -> None:
    def waits_for(name: str) -> dict[str, str]:
        return {k: v["condition"] for k, v in resolved["services"][name]["depends_on"].items()}

    assert waits_for("mosquitto") == {"mqtt-users": "service_completed_successfully"}
    assert waits_for("grafana") == {"influxdb": "service_healthy"}
    healthy = "service_healthy"
    assert waits_for("api") == {"mosquitto": healthy, "influxdb": healthy}
    # The API alone migrates the shared SQLite registry, before the others open it.
    for name in ("ingest", "alerts"):
        assert waits_for(name) == {"mosquitto": healthy, "influxdb": healthy, "api": healthy}


def test_named_volumes_and_the_shared_registry(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    assert set(resolved["volumes"]) == NAMED_VOLUMES
    assert _mounts(services["mosquitto"])["/mosquitto/data"] == "mosquitto-data"
    assert _mounts(services["influxdb"])["/var/lib/influxdb2"] == "influxdb-data"
    assert _mounts(services["grafana"])["/var/lib/grafana"] == "grafana-data"
    for name in TANI_SERVICES:
        assert _mounts(services[name])["/var/lib/tani"] == "tani-registry", name
        assert services[name]["environment"]["TANI_REGISTRY_URL"] == REGISTRY_URL


def test_mqtt_and_grafana_paths_the_other_tools_rely_on(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    data_dir = (DEPLOY / _env_example()["TANI_DATA_DIR"]).resolve()
    mqtt_dir = str(data_dir / "mqtt")
    # `tani gateways add ... --mqtt-dir ./data/mqtt` in the api container (workdir /srv/tani)
    # writes the same directory the mqtt-users step writes and Mosquitto reads.
    assert _mounts(services["api"])[MQTT_DIR_IN_API] == mqtt_dir
    assert _mounts(services["mqtt-users"])[MQTT_DIR_IN_API] == mqtt_dir
    assert services["mqtt-users"]["command"] == [MQTT_DIR_IN_API]
    assert _mounts(services["mosquitto"])["/etc/tani/mqtt"] == mqtt_dir
    conf = (DEPLOY / "compose" / "mosquitto.conf").read_text()
    assert "password_file /etc/tani/mqtt/passwd" in conf
    assert "acl_file /etc/tani/mqtt/acl" in conf
    assert "allow_anonymous false" in conf
    grafana = _mounts(services["grafana"])
    assert grafana["/etc/grafana/provisioning"] == str(DEPLOY / "grafana" / "provisioning")
    assert grafana["/var/lib/grafana/dashboards/tani"] == str(DEPLOY / "grafana" / "dashboards")
    assert {"INFLUXDB_URL", "INFLUXDB_DATABASE", "INFLUXDB_TOKEN"} <= set(
        services["grafana"]["environment"]
    )
    assert services["grafana"]["environment"]["INFLUXDB_URL"] == "http://influxdb:8086"


def test_every_bind_mounted_file_exists(resolved: dict[str, Any]) -> None:
    data_dir = (DEPLOY / _env_example()["TANI_DATA_DIR"]).resolve()
    sources = [
        Path(source)
        for service in resolved["services"].values()
        for source in _mounts(service).values()
        if source.startswith("/")
    ]
    assert sources, "no bind mounts found"
    missing = [str(s) for s in sources if not s.is_relative_to(data_dir) and not s.exists()]
    assert not missing, f"bind-mounted but not in the repository: {missing}"


def test_env_example_documents_every_variable_and_holds_no_secret() -> None:
    text = ENV_EXAMPLE.read_text()
    values = _env_example()
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE_FILE.read_text()))
    assert used <= set(values), (
        f"used by the compose file, not in .env.example: {used - set(values)}"
    )
    lines = text.splitlines()
    for key in values:
        index = next(i for i, line in enumerate(lines) if line.startswith(f"{key}="))
        block = []  # the lines above it up to a blank line: its comment, maybe shared
        while index > 0 and lines[index - 1].strip():
            index -= 1
            block.append(lines[index])
        assert any(line.startswith("#") for line in block), f"{key} has no comment above it"
    for key, value in values.items():
        if key.endswith(("_PASSWORD", "_TOKEN")):
            assert value.startswith("CHANGE_ME"), f"{key} must be a placeholder, not a secret"


def _compose_schema() -> dict[str, Any]:
    script = Path(_docker_compose()).read_text().splitlines()[0]
    python = script.removeprefix("#!").split()[0] if script.startswith("#!") else "python3"
    found = subprocess.run(
        [
            python,
            "-c",
            "import compose.config, os; print(os.path.dirname(compose.config.__file__))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads((Path(found.stdout.strip()) / "compose_spec.json").read_text())


def _schema_errors(schema: dict[str, Any], document: dict[str, Any]) -> list[str] | None:
    """Messages of a JSON Schema library of the environment; None if none is importable."""
    try:
        import jsonschema
    except ImportError:
        try:
            import jsonschema_rs
        except ImportError:
            return None
        return [e.message for e in jsonschema_rs.validator_for(schema).iter_errors(document)]
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [e.message for e in validator.iter_errors(document)]


def test_file_validates_against_the_compose_specification(resolved: dict[str, Any]) -> None:
    schema = _compose_schema()
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    for document in (raw, resolved):
        errors = _schema_errors(schema, document)
        if errors is None:  # docker-compose config (the fixture) already checked the schema
            return
        assert errors == []
    # The validator does find mistakes (a misspelt key), so the empty lists above mean something.
    raw["services"]["api"]["healthcheck"]["intervall"] = "30s"
    assert _schema_errors(schema, raw)


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in (raw.strip() for raw in text.splitlines())
        if line and not line.startswith("#")
    ]


def test_dockerfile_builds_the_server_image() -> None:
    instructions = _dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    assert json.loads(dict(instructions)["ENTRYPOINT"]) == ["tani"]
    runs = " ".join(arg for op, arg in instructions if op == "RUN")
    # The server extra from the lock, as the Pi and make do (tests/unit/test_lock.py runs it).
    assert "deploy/install-from-lock.sh /opt/tani server" in runs
    assert "pip install" not in runs
    users = [arg for op, arg in instructions if op == "USER"]
    assert users and users[-1] not in ("root", "0"), "the services must not run as root"
    assert ("COPY", ". .") in instructions
    # Dockerfile.dockerignore keeps junk out of the context, but nothing the package needs.
    ignored = [
        line.strip()
        for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["build-backend"][
        "module-name"
    ]
    needed = [
        *("pyproject.toml", "uv.lock", "README.md", "deploy/compose"),
        *("deploy/bootstrap-uv.sh", "deploy/install-from-lock.sh", *packages),
    ]
    for path in needed:
        assert (ROOT / path).exists(), path
        assert not any(fnmatch.fnmatch(path, pattern) for pattern in ignored), path
    for script in ("healthcheck.py", "mqtt_users.py"):
        assert f"deploy/compose/{script}" in DOCKERFILE.read_text()


def test_service_commands_are_real_tani_commands(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    for name in TANI_SERVICES:
        command = services[name]["command"]
        words = command[: command.index("--config")]
        result = subprocess.run(
            [str(TANI_BIN), *words, "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, f"tani {' '.join(words)}: {result.stderr}"
        assert "--config" in result.stdout
        assert command[command.index("--config") + 1] == CONFIGS[name][1]
    assert services["mqtt-users"]["entrypoint"] == [
        "python",
        "/usr/local/lib/tani-deploy/mqtt_users.py",
    ]
    # Admin commands the README has the operator run in the api container.
    for words in (["users", "add"], ["registry", "load"], ["gateways", "add"], ["deadletters"]):
        result = subprocess.run(
            [str(TANI_BIN), *words, "--help"], capture_output=True, timeout=60, check=False
        )
        assert result.returncode == 0, words


def test_tani_commands_of_the_deploy_readme_exist() -> None:
    """Every `docker compose exec SERVICE tani ...` of deploy/README.md names a real command."""
    readme = (DEPLOY / "README.md").read_text()
    found = re.findall(
        r"docker compose exec (?:api|ingest|alerts) tani ([a-z][a-z-]*)( [a-z-]+)?", readme
    )
    assert len(found) >= 8, found
    for first, second in sorted(set(found)):
        group = subprocess.run(
            [str(TANI_BIN), first, "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert group.returncode == 0, f"tani {first}: {group.stderr}"
        if second and "Commands" in group.stdout:
            sub = subprocess.run(
                [str(TANI_BIN), first, second.strip(), "--help"],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert sub.returncode == 0, f"tani {first}{second}: {sub.stderr}"
    # The options the README relies on.
    gateways_add = subprocess.run(
        [str(TANI_BIN), "gateways", "add", "--help"], capture_output=True, text=True, check=False
    ).stdout
    for option in ("--mqtt-dir", "--broker", "--tls", "--field"):
        assert option in gateways_add


def test_each_service_config_passes_its_own_check(
    resolved: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    services = resolved["services"]
    for name, (module, container_path) in CONFIGS.items():
        for key in list(os.environ):
            if key.startswith("TANI_"):
                monkeypatch.delenv(key)
        for key, value in services[name]["environment"].items():
            monkeypatch.setenv(key, str(value))
        toml = Path(_mounts(services[name])[container_path])
        config = importlib.import_module(module).load_config(toml)
        assert config.registry_url == REGISTRY_URL, name
        assert config.influx.url == "http://influxdb:8086", name
        assert config.influx.token == _env_example()["INFLUXDB_ADMIN_TOKEN"], name
        if name == "api":
            assert (config.host, config.port) == ("0.0.0.0", 8000)
            assert (config.broker.host, config.broker.port) == ("mosquitto", 1883)
        else:
            assert (config.mqtt.host, config.mqtt.port) == ("mosquitto", 1883)
            assert config.mqtt.username == name
            assert config.mqtt.password == _env_example()[f"MQTT_{name.upper()}_PASSWORD"]
        # Prometheus reaches /metrics inside the compose network; the host never does.
        assert (config.metrics_host, config.metrics_port) == ("0.0.0.0", METRICS_PORTS[name])
        published = {str(port.get("target")) for port in services[name].get("ports", [])}
        assert str(config.metrics_port) not in published, name
    ingest_check = services["ingest"]["healthcheck"]["test"]
    assert "http://127.0.0.1:9464/healthz" in ingest_check
    assert "http://127.0.0.1:8000/healthz" in services["api"]["healthcheck"]["test"]
