# The two commands a new user needs: `make run` and `make test`. `./leadrelay <command>` runs the
# `flask --app app` commands with this virtualenv (see README "Commands").
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# One stamp per requirements content: editing a pin reinstalls, nothing else does.
RUNTIME_STAMP := $(VENV)/.runtime-$(shell cat requirements.txt | cksum | cut -d' ' -f1)
DEV_STAMP := $(VENV)/.dev-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)

.PHONY: run test lint bench install install-dev clean

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

run: install
	PATH=$(BIN):$$PATH $(BIN)/gunicorn app:app

test: install-dev
	$(BIN)/python -m pytest

# Not part of `make test` yet: the whole-tree format and type clean-up lands first.
# All three always run (a full report), and the target fails if any of them found something.
lint: install-dev
	status=0; \
	$(BIN)/ruff check . || status=1; \
	$(BIN)/ruff format --check . || status=1; \
	$(BIN)/mypy || status=1; \
	exit $$status

bench: install-dev
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) instance
