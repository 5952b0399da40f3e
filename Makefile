# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)

.PHONY: run test soak bench install clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

run: install
	PATH=$(BIN):$$PATH $(BIN)/gunicorn app:app

test: install
	$(BIN)/python -m pytest

# The fault matrix at full length (3-min and 10-min Engage outages, a time-accelerated 2-hour one,
# PostgreSQL gone 15 s and 30 s, SQLite locked 30 s, kill -9 during each); prints each case's figure.
# PostgreSQL cases need TEST_DATABASE_URL. About 30 minutes.
soak: install
	LEADRELAY_SOAK=1 $(BIN)/python -m pytest -s -ra tests/faults

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) instance
