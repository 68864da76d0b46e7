# Sealpost. `make run` for the product on its embedded default, `make test` for the suite.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python

# The suite runs on PostgreSQL (as the application role, with the owner for migrations) and Redis.
TEST_ENV := DATABASE_URL=postgres://sealpost_app@127.0.0.1:5432/sealpost \
	DATABASE_MIGRATE_URL=postgres://sealpost_owner@127.0.0.1:5432/sealpost \
	REDIS_URL=redis://127.0.0.1:6379/15 \
	SEALPOST_VAR_DIR=$(CURDIR)/var/test
# Parallel workers (pytest-xdist); each gets its own database, Redis database and var directory
# (sealpost/pytest_workers.py). TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2

.PHONY: run test lint bench install install-dev clean help

help:
	@echo "make run    the product on its embedded default (SQLite, local broker, worker, SMTP sink, demo data)"
	@echo "make test   the whole test suite on PostgreSQL and Redis"
	@echo "make lint   ruff and mypy"
	@echo "make bench  the benchmarks (RESULT lines)"

$(VENV)/.python:
	@python=$$(scripts/find-python) && "$$python" -m venv $(VENV) && echo "$$python" > $@
	@$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml $(VENV)/.python
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: $(VENV)/.installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py ensure_keys
	$(PY) manage.py seed_demo
	$(PY) scripts/run_embedded.py

test: $(VENV)/.installed-dev
	@scripts/check-services
	@scripts/ensure-chromium
	@scripts/pg-bootstrap
	$(TEST_ENV) $(BIN)/pytest --numprocesses $(TEST_WORKERS) $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

# Benchmarks get their own database, so they never touch the development data.
BENCH_ENV := DATABASE_URL=postgres://sealpost_app@127.0.0.1:5432/sealpost_bench \
	DATABASE_MIGRATE_URL=postgres://sealpost_owner@127.0.0.1:5432/sealpost_bench \
	REDIS_URL=redis://127.0.0.1:6379/14 \
	SEALPOST_VAR_DIR=$(CURDIR)/var/bench

bench: $(VENV)/.installed-dev
	@scripts/check-services
	@scripts/pg-bootstrap sealpost_bench
	$(BENCH_ENV) $(PY) -m tests.benchmarks

clean:
	rm -rf $(VENV) var staticfiles test-artifacts .pytest_cache .mypy_cache .ruff_cache
