"""``python -m tani.gateway``, the gateway's process on a Pi: small, and as strict as ``tani``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "gateway.toml"
UNIT = Path(__file__).resolve().parents[2] / "deploy" / "gateway" / "tani-gateway.service"
# What the servers and the tani command use: none of it belongs in a Pi's 35 MB.
NOT_ON_A_PI = (
    "pydantic",
    "pydantic_core",
    "pydantic_settings",
    "typer",
    "click",
    "rich",
    "fastapi",
    "sqlalchemy",
    "influxdb_client",
    "prometheus_client",
    "registry",
    "storage",
    "ingest",
    "api",
    "alerts",
)


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport json, sys; print(json.dumps(list(sys.modules)))"],
        capture_output=True,
        check=True,
        text=True,
    )
    return {name.split(".")[0] for name in json.loads(out.stdout.splitlines()[-1])}


def test_a_gateway_built_from_its_config_imports_nothing_of_the_server() -> None:
    loaded = _modules_after(
        "from pathlib import Path\n"
        "import tani.gateway\n"
        "from gateway.config import load_config\n"
        "from gateway.service import Gateway\n"
        f"Gateway(load_config(Path({str(EXAMPLE)!r})))"
    )
    assert not loaded & set(NOT_ON_A_PI)
    assert {"paho", "pymodbus", "serial"} <= loaded  # the example has a Modbus bus


def test_a_gateway_without_a_modbus_bus_does_not_load_pymodbus(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    text = EXAMPLE.read_text()
    config.write_text(text[: text.index("[[modbus]]")] + text[text.index("# [[sdi12]]") :])
    loaded = _modules_after(
        "from pathlib import Path\n"
        "from gateway.config import load_config\n"
        "from gateway.service import Gateway\n"
        f"Gateway(load_config(Path({str(config)!r})))"
    )
    assert "pymodbus" not in loaded and "asyncio" not in loaded
    assert "serial" in loaded  # the weather station


def test_a_bad_configuration_stops_it_with_every_bad_key(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('gateway_id = "gw 1"\n[mqtt]\nusername = "u"\nport = 0\n')
    done = subprocess.run(
        [sys.executable, "-m", "tani.gateway", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert f"invalid configuration in {config}" in done.stderr
    for line in ("  gateway_id: String should match pattern", "  mqtt.port:", "  mqtt.password:"):
        assert line in done.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "tani.gateway", "--config", str(tmp_path / "none.toml")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert missing.returncode == 2
    assert "cannot read" in missing.stderr


def test_the_systemd_unit_starts_this_module() -> None:
    exec_start = next(
        line for line in UNIT.read_text().splitlines() if line.startswith("ExecStart=")
    )
    assert " -m tani.gateway --config /etc/tani/gateway.toml" in exec_start
