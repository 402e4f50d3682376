# `make run` and `make test` are the two commands; everything they need is installed from here.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FRONTEND_SRC := $(shell find frontend/src frontend/index.html frontend/vite.config.ts frontend/package.json -type f 2>/dev/null)

.PHONY: run test test-python test-frontend lint install frontend chromium openapi clean

run: $(VENV)/.installed frontend/dist/index.html
	$(VENV)/bin/anime-studio serve

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0  # first and pinned: the CPU build (the training extra needs torch)
	$(PY) -m pip install -q -e '.[training]'
	touch $@

$(VENV)/.test-installed: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[test,training]'
	touch $@

frontend/node_modules/.package-lock.json: frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund

frontend: frontend/dist/index.html

frontend/dist/index.html: frontend/node_modules/.package-lock.json $(FRONTEND_SRC)
	cd frontend && npm run build

# Debian's chromium for the browser tests (never a downloaded browser).
chromium:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

# The typed frontend client is generated from this; a test checks it is current.
openapi: $(VENV)/.installed
	$(PY) -m src.openapi frontend/openapi.json
	cd frontend && npm run gen:api

test: $(VENV)/.test-installed frontend/dist/index.html chromium
	$(MAKE) lint
	$(MAKE) test-frontend
	$(MAKE) test-python

lint: $(VENV)/.test-installed
	$(PY) -m ruff check src packages tests bench migrations

test-python: $(VENV)/.test-installed
	$(PY) -m pytest -q

test-frontend: frontend/node_modules/.package-lock.json
	cd frontend && npm test

clean:
	rm -rf $(VENV) frontend/node_modules frontend/dist
