# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)

.PHONY: run test bench fuzz slow install clean

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

bench: install
	$(BIN)/python -m bench

# Property-based fuzzing of every sender type: >= 100,000 inputs through the app (32 runs with PostgreSQL,
# 16 without) and 10,000 more over real sockets through gunicorn's front.
FUZZ_EXAMPLES ?= $(if $(TEST_DATABASE_URL),3200,6300)
fuzz: install
	mkdir -p instance
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_SOCKET_EXAMPLES=10000 FUZZ_RANDOM=1 FUZZ_REPORT=instance/fuzz-report.json \
		$(BIN)/python -m pytest -q -p no:cacheprovider --timeout=3600 tests/hostile/test_fuzz.py
	@echo "fuzz counts (instance/fuzz-report.json):" && cat instance/fuzz-report.json

# The slow-client test at the issue's full scale: 500 slow sockets held for 20 s.
slow: install
	SLOW_SOCKETS=500 SLOW_SECONDS=20 $(BIN)/python -m pytest -q -s tests/hostile/test_slow_clients.py

clean:
	rm -rf $(VENV) instance
