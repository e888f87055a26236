"""uv.lock is the one source of installed packages: it agrees with pyproject.toml, .venv is
exactly it, the Pi's and the image's install take exactly their extra from it, and a Pi finds a
wheel for every gateway package.

uv runs offline here (tests reach no registry): what it needs is in its cache once `make` has
synced .venv.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import unquote

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import canonicalize_name, parse_wheel_filename

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
UV = VENV_BIN / "uv"
EXTRAS = ("gateway", "server", "sim", "dev")
PROJECT = "tani-hub"
LOCK = tomllib.loads((ROOT / "uv.lock").read_text("utf-8"))
PACKAGES = {package["name"]: package for package in LOCK["package"]}


def _uv(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(UV), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "UV_OFFLINE": "1", "UV_PYTHON_DOWNLOADS": "never"},
    )


def _locked_for(extras: tuple[str, ...], environment: dict[str, str] | None = None) -> dict:
    """{name: version} the lock installs for ``extras`` (the project left out) on this machine,
    or on the one ``environment`` describes (PEP 508 marker variables)."""
    result = _uv(
        "export", "--frozen", "--no-hashes", "--no-header", "--no-annotate",
        "--no-emit-project", *(f"--extra={extra}" for extra in extras),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    locked = {}
    for line in result.stdout.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        requirement, _, marker = line.partition(";")
        if marker.strip() and not Marker(marker.strip()).evaluate(environment):
            continue
        name, _, version = requirement.strip().partition("==")
        locked[str(canonicalize_name(name))] = version
    return locked


def _pip_list(python: Path) -> dict[str, str]:
    result = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return {str(canonicalize_name(p["name"])): p["version"] for p in json.loads(result.stdout)}


def test_the_lock_agrees_with_pyproject() -> None:
    result = _uv("lock", "--check")
    assert result.returncode == 0, (
        f"pyproject.toml and uv.lock disagree: run 'make lock' and commit uv.lock\n{result.stderr}"
    )


@pytest.mark.parametrize(
    "change",
    [
        ('"typer>=0.12"', '"typer>=99"'),  # a bound the locked version no longer meets
        ('"pytest>=8",', '"pytest>=8",\n    "tani-not-in-the-lock>=1",'),  # a new dependency
    ],
)
def test_a_lock_that_disagrees_with_pyproject_is_caught(
    tmp_path: Path, change: tuple[str, str]
) -> None:
    pyproject = (ROOT / "pyproject.toml").read_text("utf-8")
    assert change[0] in pyproject
    shutil.copy(ROOT / "uv.lock", tmp_path / "uv.lock")
    (tmp_path / "pyproject.toml").write_text(pyproject, "utf-8")
    assert _uv("lock", "--check", cwd=tmp_path).returncode == 0  # the copy itself agrees
    (tmp_path / "pyproject.toml").write_text(pyproject.replace(*change), "utf-8")
    result = _uv("lock", "--check", cwd=tmp_path)
    assert result.returncode != 0, result.stderr
    assert (tmp_path / "uv.lock").read_bytes() == (ROOT / "uv.lock").read_bytes()


def test_the_venv_is_exactly_the_lock() -> None:
    # What `pip list` inside .venv shows: the lock's packages at the lock's versions, the
    # project itself, and nothing else.
    installed = _pip_list(VENV_BIN / "python")
    assert installed.pop(PROJECT) == PACKAGES[PROJECT]["version"]
    assert installed == _locked_for(EXTRAS), "run 'make venv': .venv is not uv.lock"


@pytest.mark.parametrize(
    ("extra", "module", "absent"),
    [("gateway", "gateway.service", "fastapi"), ("server", "ingest.service", "pymodbus")],
)
def test_the_pi_and_the_image_install_exactly_their_extra(
    tmp_path: Path, extra: str, module: str, absent: str
) -> None:
    # deploy/gateway/install-pi.sh and deploy/Dockerfile run this script; it finds the pinned
    # uv already in .venv (the lock puts it there), so it needs no registry here.
    venv = tmp_path / "venv"
    result = subprocess.run(
        [str(ROOT / "deploy" / "install-from-lock.sh"), str(venv), extra],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "UV_OFFLINE": "1", "UV_HOME": str(VENV_BIN.parent)},
    )
    assert result.returncode == 0, result.stderr
    python = venv / "bin" / "python"
    installed = _pip_list_without_pip(python, venv)
    assert installed.pop(PROJECT) == PACKAGES[PROJECT]["version"]
    assert installed == _locked_for((extra,))
    assert absent not in installed
    check = subprocess.run(
        [str(python), "-c", f"import {module}, tani.cli; print({module}.__file__)"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.startswith(str(venv)), "not editable: the checkout may be deleted"


def _pip_list_without_pip(python: Path, venv: Path) -> dict[str, str]:
    """Distributions in ``venv`` (which has no pip: uv made it), read by its own Python."""
    code = (
        "import json, importlib.metadata as m; "
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
    )
    result = subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return {str(canonicalize_name(k)): v for k, v in json.loads(result.stdout).items()}


# Raspberry Pi OS 12 (bookworm): CPython 3.11, glibc 2.36, 64-bit (aarch64) or 32-bit (armv7l).
PI_GLIBC_MINOR = 36


def _pi_tags(machine: str) -> set[Tag]:
    platforms = [f"manylinux_2_{minor}_{machine}" for minor in range(PI_GLIBC_MINOR, 16, -1)]
    platforms += [f"manylinux2014_{machine}", f"linux_{machine}"]
    tags = set(cpython_tags((3, 11), abis=["cp311", "abi3", "none"], platforms=platforms))
    return tags | set(compatible_tags((3, 11), "cp311", platforms))


@pytest.mark.parametrize("machine", ["aarch64", "armv7l"])
def test_every_gateway_package_has_a_wheel_for_the_pi(machine: str) -> None:
    # A package with only a source archive would be compiled on the Pi (pydantic-core: Rust),
    # which a village Pi cannot do; the pinned uv that installs them needs a wheel too.
    environment = {"platform_machine": machine, "python_version": "3.11"}
    environment |= {"python_full_version": "3.11.2", "sys_platform": "linux"}
    tags = _pi_tags(machine)
    needed = [*_locked_for(("gateway",), environment), "uv"]
    missing = []
    for name in needed:
        files = PACKAGES[name].get("wheels", [])
        wheels = [unquote(wheel["url"].rsplit("/", 1)[1]) for wheel in files]
        if not any(parse_wheel_filename(wheel)[3] & tags for wheel in wheels):
            missing.append(f"{name} {PACKAGES[name]['version']}")
    assert missing == [], f"no {machine} wheel for Python 3.11 in uv.lock: {missing}"


def test_the_locked_uv_builds_the_project_itself() -> None:
    # uv builds the project with its own backend, downloading nothing, only when the backend's
    # range holds uv's version: after a lock refresh to a new uv, widen build-system.requires.
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    (backend,) = map(Requirement, pyproject["build-system"]["requires"])
    assert backend.name == "uv_build"
    assert PACKAGES["uv"]["version"] in backend.specifier, backend
    assert (VENV_BIN / "uv").exists()


def test_every_install_goes_through_the_lock() -> None:
    makefile = (ROOT / "Makefile").read_text("utf-8")
    assert "$(UV) sync --locked" in makefile and "pip install" not in makefile
    for script in ("deploy/gateway/install-pi.sh", "deploy/Dockerfile"):
        text = (ROOT / script).read_text("utf-8")
        assert "deploy/install-from-lock.sh" in text and "pip install" not in text, script
