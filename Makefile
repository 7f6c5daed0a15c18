# Tally: the commands a newcomer needs. Each target creates .venv and installs when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_PROFILES ?= 10000
HOST ?= 127.0.0.1
PORT ?= 8000
BENCH_IMPORT_ROWS ?= 1000000

.PHONY: run test lint format bench loadtest faults docs clean browser

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: install, create demo data once (token in .tally-demo.txt), serve on 127.0.0.1:8000
run: $(STAMP)
	test -s .tally-demo.txt || $(BIN)/tally demo --profiles $(DEMO_PROFILES) > .tally-demo.txt
	@cat .tally-demo.txt
	$(BIN)/tally serve --host $(HOST) --port $(PORT)

## test: lint, type-check and run every test (PostgreSQL too when TALLY_TEST_POSTGRES_URL is set),
## two at a time (each pytest worker makes its own PostgreSQL database and SQLite files)
test: $(STAMP) lint browser
	$(BIN)/pytest -q -n 2

## browser: Debian's Chromium for the dashboard's browser tests, installed when missing and
## apt-get can (as root); without it those tests are skipped and say why
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the dashboard's browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "no chromium: the dashboard's browser tests will be skipped (sudo apt-get install chromium)"; \
	  fi; }

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy src

format: $(STAMP)
	$(BIN)/ruff format src tests bench scripts
	$(BIN)/ruff check --fix src tests bench scripts

## bench: refresh (1M), feedback, import, latency, hostile inputs and a large database (1M) on SQLite; with
## TALLY_BENCH_POSTGRES_URL also on PostgreSQL: refresh at 1M and 10M, workers, and a large
## database of 10M (loaded once into tally_bench_1m and tally_bench_10m, then reused); then
## issue 9's targets as one table (bench/targets.py)
bench: $(STAMP)
	$(BIN)/python bench/refresh.py --profiles 1000000 --naive-repeat 1 --json build/bench/refresh-sqlite-1m.json
	$(BIN)/python bench/feedback.py
	$(BIN)/python bench/import.py --rows $(BENCH_IMPORT_ROWS)
	$(BIN)/python bench/latency.py
	$(BIN)/python bench/hostile.py --json build/bench/hostile.json
	$(BIN)/python bench/large_database.py --database-url sqlite:///build/bench/large-1m.db --profiles 1000000
	if [ -n "$$TALLY_BENCH_POSTGRES_URL" ]; then \
	  for size in 1m 10m; do \
	    $(BIN)/python bench/refresh.py --load copy --reuse --naive-repeat 1 --profiles $$([ $$size = 1m ] && echo 1000000 || echo 10000000) \
	      --database-url "$${TALLY_BENCH_POSTGRES_URL%/*}/tally_bench_$$size" --json build/bench/refresh-postgres-$$size.json || exit 1; \
	  done; \
	  $(BIN)/python bench/workers.py --admin-url "$$TALLY_BENCH_POSTGRES_URL" && \
	  $(BIN)/python bench/large_database.py --profiles 10000000 \
	    --database-url "$${TALLY_BENCH_POSTGRES_URL%/*}/tally_bench_10m" --json build/bench/large_database_10m.json; fi
	$(BIN)/python bench/targets.py

## loadtest: locust on loopback for 60 s against 2 API processes and 2 workers on PostgreSQL
## (database tally_loadtest, recreated), with /healthz and tasks/status alone first; the table
## and issue 12's targets (TALLY_LOADTEST_POSTGRES_URL: the server to use, as an admin URL)
loadtest: $(STAMP)
	$(BIN)/pip install --quiet -e '.[load]'
	$(BIN)/python bench/loadtest.py --json build/bench/loadtest.json \
	  --admin-url "$${TALLY_LOADTEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"

## faults: SIGKILL of API processes and workers every 4 s under load for 60 s, a PostgreSQL
## restart halfway, then an audit: acknowledged writes present, tasks final, counts equal a
## recount, no delivery lost (database tally_faults, recreated; restarts the local server)
faults: $(STAMP)
	$(BIN)/python bench/faults.py --json build/bench/faults.json \
	  --admin-url "$${TALLY_LOADTEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"

## docs: regenerate docs/api.md from real calls
docs: $(STAMP)
	PYTHONPATH=. $(BIN)/python scripts/api_examples.py > docs/api.md

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
