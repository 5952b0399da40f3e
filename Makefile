# The two commands a new user needs: `make run` and `make test`. `./leadrelay <command>` runs the
# `flask --app app` commands with this virtualenv (see README "Commands").
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# One stamp per requirements content: editing a pin reinstalls, nothing else does.
RUNTIME_STAMP := $(VENV)/.runtime-$(shell cat requirements.txt | cksum | cut -d' ' -f1)
DEV_STAMP := $(VENV)/.dev-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)

.PHONY: run test check lint soak bench fuzz slow install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Runtime only: what production installs (make run, Heroku).
$(RUNTIME_STAMP): requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	rm -f $(VENV)/.runtime-*
	touch $@

# Runtime + tests, lint and bench tools.
$(DEV_STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	rm -f $(VENV)/.dev-*
	touch $@

install: $(RUNTIME_STAMP)

install-dev: $(DEV_STAMP)

# Loopback unless HOST says otherwise: the example config's demo token must not be reachable from
# the LAN. Production (Procfile: plain `gunicorn app:app`) keeps gunicorn.conf.py's 0.0.0.0:$PORT.
run: install
	PATH=$(BIN):$$PATH $(BIN)/gunicorn --bind "$${HOST:-127.0.0.1}:$${PORT:-8000}" app:app

# Lint first (seconds), then the suite: a red lint fails `make test` as a failing test would.
# The suite runs in TEST_WORKERS processes (pytest-xdist; default: cores + 1 and at most 4, so 3 on
# a 2-core machine; the cap keeps PostgreSQL's 100 connections and the memory of each worker's
# gunicorn and fake Engage processes well inside a default install):
# most of its wall time is waiting on real processes, sockets and short faults, not CPU, so one
# worker more than the cores overlaps that waiting (measured in docs/development.md). Each test
# has its own SQLite file or PostgreSQL schema and binds port 0, so workers share nothing.
# TEST_WORKERS=0 runs it in one process (e.g. to read a fault test's printed figures with -s).
TEST_WORKERS ?= $(shell n=$$(( $$(nproc 2>/dev/null || echo 2) + 1 )); echo $$(( n > 4 ? 4 : n )))
test: install-dev lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal

# The fast lane: lint, then the unit tests only (no inet socket, no process; tests/lanes.py enforces
# it both ways). SQLite always, PostgreSQL too when TEST_DATABASE_URL is set. See README "Tests".
check: install-dev lint
	$(BIN)/python -m pytest -q -m unit -n 2

# The fault matrix at full length (3-min and 10-min Engage outages, a time-accelerated 2-hour one,
# PostgreSQL gone 15 s and 30 s, SQLite locked 30 s, kill -9 during each); prints each case's figure.
# PostgreSQL cases need TEST_DATABASE_URL. About 30 minutes.
soak: install-dev
	LEADRELAY_SOAK=1 $(BIN)/python -m pytest -s -ra tests/faults

# ruff (lint + format check) and mypy (strict where pyproject.toml says); `make test` runs it first.
# All three always run (a full report), and the target fails if any of them found something.
lint: install-dev
	status=0; \
	$(BIN)/ruff check . || status=1; \
	$(BIN)/ruff format --check . || status=1; \
	$(BIN)/mypy || status=1; \
	exit $$status

bench: install-dev
	$(BIN)/python -m bench

# Property-based fuzzing of every sender type: >= 100,000 inputs through the app (32 runs with PostgreSQL,
# 16 without) and 10,000 more over real sockets through gunicorn's front.
FUZZ_EXAMPLES ?= $(if $(TEST_DATABASE_URL),3200,6300)
fuzz: install-dev
	mkdir -p instance
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_SOCKET_EXAMPLES=10000 FUZZ_RANDOM=1 FUZZ_REPORT=instance/fuzz-report.json \
		$(BIN)/python -m pytest -q -p no:cacheprovider --timeout=3600 tests/hostile/test_fuzz.py
	@echo "fuzz counts (instance/fuzz-report.json):" && cat instance/fuzz-report.json

# The slow-client test at the issue's full scale: 500 slow sockets held for 20 s.
slow: install-dev
	SLOW_SOCKETS=500 SLOW_SECONDS=20 $(BIN)/python -m pytest -q -s tests/hostile/test_slow_clients.py

clean:
	rm -rf $(VENV) instance
