# Tani Hub: `make demo` runs the whole chain with emulated sensors, `make test` runs every test.
# Both install what they need first (Debian packages, then .venv) and are quick the second time.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# uv, as pinned by uv.lock, in a venv of its own (deploy/bootstrap-uv.sh puts it there).
UV_HOME := .uv
UV := $(UV_HOME)/bin/uv
EXTRAS := --extra gateway --extra server --extra sim --extra dev
DEBIAN_PACKAGES := mosquitto mosquitto-clients influxdb python3-venv chromium docker-compose
DURATION ?=
# Only the package registries are reachable: uv must use Debian's Python, never fetch one.
export UV_PYTHON_DOWNLOADS := never

.PHONY: demo test lint lock deps venv uv clean

demo: deps venv
	$(BIN)/tani demo $(if $(DURATION),--duration $(DURATION))

test: deps venv
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

deps:
	@deploy/install-debian-packages.sh $(DEBIAN_PACKAGES)

uv:
	@PYTHON=$(PYTHON) deploy/bootstrap-uv.sh $(UV_HOME)

# .venv is exactly uv.lock, every run (under a second when it already is): `uv sync --locked`
# refuses a lock that disagrees with pyproject.toml, installs only the locked files (their
# hashes checked) and removes anything the lock does not list. A .venv that pip made (before the
# lock) is made anew, since its pip and setuptools are not the lock's. --compile-bytecode: with
# PYTHONDONTWRITEBYTECODE set, every process would otherwise compile fastapi, pydantic, ... anew
# (4.5 s instead of 1.6 s to start a service; the integration tests start hundreds).
venv: uv
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11 or newer is needed")'
	@grep -qs '^uv = ' $(VENV)/pyvenv.cfg || rm -rf $(VENV)
	$(UV) sync --locked --compile-bytecode --python $(PYTHON) $(EXTRAS)

# Refresh the lock on purpose: the newest versions pyproject.toml allows, then .venv from it.
# Commit uv.lock only with the suite green on it (make test).
lock: uv
	$(UV) lock --upgrade --python $(PYTHON)
	$(MAKE) venv

clean:
	rm -rf $(VENV) $(UV_HOME) .pytest_cache .ruff_cache
