# Two commands: `make run` (the whole app on embedded defaults) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.runtime-installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@ $(VENV)/.runtime-installed

run: $(VENV)/.runtime-installed
	$(BIN)/python -m tools.devserver

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pyright

test: lint
	$(BIN)/pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

bench: $(VENV)/.dev-installed
	$(BIN)/python -m bench.import_bench
	$(BIN)/python -m bench.pipeline_bench
	$(BIN)/python -m bench.healing_bench
	$(BIN)/python -m bench.lanes_bench
	$(BIN)/python -m bench.sources_bench
	$(BIN)/python -m bench.web_bench --keep
	$(BIN)/python -m bench.web_new_urls --keep
	$(BIN)/python -m bench.web_bench --no-page-cache

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
