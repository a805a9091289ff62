# Two commands: `make run` and `make test`. Everything else is set up on the way.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
FLASK := $(BIN)/flask --app forum
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: install run serve test test-fast stress lint browser-deps bench-deps bench bench-search migrate demo clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

# Debian's Chromium for the browser tests (Playwright drives it; no browser download).
browser-deps:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	elif command -v sudo >/dev/null; then sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else echo "Chromium is missing: install Debian's 'chromium' package to run the browser tests."; fi

bench-deps:
	@if command -v wrk >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; \
	else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; fi

# Seeds a large community into a fresh database (SQLite, or PostgreSQL with DATABASE_URL),
# serves it and a bare Flask app with the same gunicorn settings, prints one table.
bench: install bench-deps
	$(BIN)/python -m bench.run $(BENCH_ARGS)

migrate: install
	$(FLASK) db upgrade

demo: migrate
	$(FLASK) demo load

run: demo
	@echo "Townhall is starting on http://$(HOST):$(PORT)"
	$(FLASK) run --host $(HOST) --port $(PORT)

# Production-style serving (see README for the settings used in production).
serve: migrate
	$(BIN)/gunicorn --workers 2 --bind $(HOST):$(PORT) 'forum:create_app()'

# Two processes (pytest-xdist; each has its own PostgreSQL schema): TEST_WORKERS=0 for one.
TEST_WORKERS ?= 2

test: install browser-deps
	$(BIN)/ruff check .
	$(BIN)/pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

test-fast: install
	$(BIN)/pytest -m "not browser and not concurrency and not stress" $(PYTEST_ARGS)

# Races and faults against a real gunicorn (3 workers) on PostgreSQL, 5 rounds each, and
# schemathesis over HTTP (tests/stress; README "Hardening and stress"). Not part of `test`.
stress: install
	$(BIN)/pytest -m stress tests/stress $(PYTEST_ARGS)

# Search latency on 100,000 posts: SQLite by default, PostgreSQL when DATABASE_URL is set
# (in the schema BENCH_SCHEMA, default townhall_bench_search). Results: bench/RESULTS.md.
bench-search: install
	$(BIN)/python bench/search.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check . || true

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis test-artifacts
