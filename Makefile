# Every target does its own set-up: a fresh clone needs only Python 3.11+ and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
CONFIG ?= config/inchannel.yaml
STAMP := $(VENV)/.installed

.PHONY: run test check lint typecheck format bench bench-cycle bench-scoring bench-x bench-reddit bench-rules bench-dispatch bench-web bench-alerts bench-answers bench-backfill pg clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: the demo daemon (SQLite, replayed mentions, recorded replies) + dashboard
run: $(STAMP)
	$(BIN)/inchannel db upgrade --config $(CONFIG)
	$(BIN)/inchannel run --config $(CONFIG)

## test: the whole test suite, SQLite and PostgreSQL, in CPUs + 1 processes (many tests
## wait on PostgreSQL or a local HTTP server); TEST_WORKERS=0 runs it in this process
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))
test: $(STAMP) pg
	$(BIN)/pytest -q -n $(TEST_WORKERS)

## check: lint, format check and strict typing
check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy monitor responders

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## pg: start the local PostgreSQL server if it is not running
pg:
	@bash .ci/start-postgres

## bench: the full-pipeline benchmark (bench/pipeline.py; about 10 minutes)
bench: $(STAMP) pg
	$(PY) bench/pipeline.py

bench-cycle: $(STAMP)
	$(PY) bench/cycle.py

bench-scoring: $(STAMP)
	$(PY) bench/scoring.py

bench-dispatch: $(STAMP)
	$(PY) bench/dispatch.py

bench-x: $(STAMP)
	$(PY) bench/x.py

bench-reddit: $(STAMP)
	$(PY) bench/reddit.py

bench-rules: $(STAMP)
	$(PY) bench/rules.py

bench-web: $(STAMP)
	$(PY) bench/web.py

bench-alerts: $(STAMP)
	$(PY) bench/alerts.py
	$(PY) bench/health_lock.py

bench-answers: $(STAMP)
	$(PY) bench/answers.py

bench-backfill: $(STAMP) pg
	$(PY) bench/backfill.py

clean:
	rm -rf var build *.egg-info .pytest_cache .mypy_cache .ruff_cache
