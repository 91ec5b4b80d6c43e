# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PEOPLE := src/ferry/export/people_js

.PHONY: run test check lint types layers bench bench-package clean

$(STAMP): pyproject.toml $(PEOPLE)/package-lock.json
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "Ferry needs Python 3.11 or newer as $(PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@# person-name recognition for redaction (compromise, pinned by the lock file); optional:
	@# without Node, redaction finds names from the known people and titles only
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --prefix $(PEOPLE) --ignore-scripts --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: redaction will find names from known people and titles only"; fi
	@touch $@

run: $(STAMP)  ## set up and serve the demo on http://127.0.0.1:8000
	$(BIN)/ferry demo

test: $(STAMP)  ## set up and run the whole test suite
	$(BIN)/pytest

check: lint types layers  ## ruff, mypy --strict, import layers

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy

layers: $(STAMP)
	$(BIN)/lint-imports

bench: $(STAMP)  ## collection benchmarks against same-run baselines
	$(BIN)/python -m bench.run

bench-package: $(STAMP)  ## package writing benchmarks against same-run baselines
	$(BIN)/python -m bench.package_bench

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
