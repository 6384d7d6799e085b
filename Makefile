# flowcore development tasks. `make test` and `make demo` work on a fresh Debian 12 machine:
# they install the system packages (as root or with passwordless sudo), create .venv and install
# every distribution in editable mode.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

# Debian packages: PostgreSQL 15 with PostGIS 3, and Python 3.11 with venv.
DEB_PACKAGES := postgresql-15 postgresql-15-postgis-3 postgresql-contrib python3.11 python3.11-venv

# Every distribution of the repository, installed only once its pyproject.toml exists. The
# throwaway plugins under tests/plugins are needed by the test suite, and install-test-plugins
# (run by `make test`) installs them into the same .venv. From then on `flowcore plugins` lists
# them and a server or demo run from this .venv offers their query kinds, until they are removed
# with `.venv/bin/pip uninstall` (for example flowcore-example-plugin).
DISTRIBUTIONS := . auth server plugins/locations plugins/flows plugins/meaningful plugins/network
TEST_PLUGINS := $(patsubst %/pyproject.toml,%,$(wildcard tests/plugins/*/pyproject.toml))
EDITABLE := $(foreach dir,$(DISTRIBUTIONS),$(if $(wildcard $(dir)/pyproject.toml),-e '$(dir)[test]'))
TEST_EDITABLE := $(foreach dir,$(TEST_PLUGINS),-e '$(dir)')
# The demo needs every distribution and FlowKit's client, but none of the test tools.
DEMO_EDITABLE := $(foreach dir,$(DISTRIBUTIONS),$(if $(wildcard $(dir)/pyproject.toml),-e '$(dir)$(if $(filter server,$(dir)),[demo])'))

.PHONY: help deps install install-demo install-test-plugins test demo demo-stop lint clean bench

help:
	@echo "make deps     install PostgreSQL 15 + PostGIS 3 and Python 3.11 (Debian, root or sudo -n)"
	@echo "make install  create $(VENV) and install every distribution in editable mode"
	@echo "make install-demo  the same without the test tools, with FlowKit's client"
	@echo "make install-test-plugins  install the throwaway plugins the test suite needs"
	@echo "make test     deps + install, then run the test suite (set FLOWCORE_TESTDATA)"
	@echo "make demo     deps + install-demo, then start FlowDB and the API and query it with flowclient"
	@echo "make demo-stop  stop the demo's API server and local database"
	@echo "make lint     ruff and mypy"
	@echo "make bench    benchmarks on generated data (FLOWCORE_BENCH_SIZE=small|medium|scaling)"
	@echo "make clean    remove caches and build files (keeps $(VENV) and .flowcore)"

deps:
	@command -v dpkg-query >/dev/null || { \
		echo "make deps needs Debian's dpkg and apt-get; install these yourself:" \
			"$(DEB_PACKAGES)" >&2; exit 1; }
	@missing=""; \
	for package in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}' "$$package" 2>/dev/null | grep -q "install ok installed" \
			|| missing="$$missing $$package"; \
	done; \
	if [ -z "$$missing" ]; then echo "Debian packages already installed."; exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; \
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo"; \
	else \
		echo "Missing Debian packages:$$missing" >&2; \
		echo "Run 'make deps' as root or with passwordless sudo, or install them yourself." >&2; \
		exit 1; \
	fi; \
	echo "Installing$$missing"; \
	$$sudo apt-get update && \
	DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y --no-install-recommends $$missing

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "python3.11 was not found: run 'make deps'" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(EDITABLE)

install-demo: $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(DEMO_EDITABLE)

install-test-plugins: install
	$(BIN)/python -m pip install --quiet $(TEST_EDITABLE)

test: deps install install-test-plugins
	$(BIN)/pytest tests

demo: deps install-demo
	$(BIN)/python -m flowcore_server.demo up

demo-stop:
	$(BIN)/python -m flowcore_server.demo down

# Results are saved as JSON under benchmarks/results for --benchmark-compare between runs.
BENCH_SIZE ?= $(or $(FLOWCORE_BENCH_SIZE),small)

bench: install
	FLOWCORE_BENCH_SIZE=$(BENCH_SIZE) $(BIN)/pytest benchmarks -p no:cacheprovider \
		--benchmark-enable --benchmark-storage=benchmarks/results \
		--benchmark-save=$(BENCH_SIZE) --benchmark-columns=median,iqr,rounds --benchmark-sort=name

lint:
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf build dist .pytest_cache .mypy_cache .ruff_cache .hypothesis .benchmarks
	find . -path ./$(VENV) -prune -o -path ./.flowcore -prune -o \
		\( -name __pycache__ -o -name '*.egg-info' \) -type d -print0 | xargs -0 rm -rf
