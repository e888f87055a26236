# Tani Hub: `make demo` runs the whole chain with emulated sensors, `make test` runs every test.
# Both install what they need first (Debian packages, then .venv) and are quick the second time.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEBIAN_PACKAGES := mosquitto mosquitto-clients influxdb python3-venv chromium docker-compose
DURATION ?=

.PHONY: demo test lint deps venv clean

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

venv: $(VENV)/.installed

# Re-installs only when pyproject.toml changed since the last install.
$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11 or newer is needed")'
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV) || { \
		echo "python3 -m venv failed: on Debian install python3-venv"; exit 1; }
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[gateway,server,sim,dev]'
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
