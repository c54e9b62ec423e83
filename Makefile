# The two commands of the quick start: `make run` and `make test`.
# Both create .venv and install what they need on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run once test lint demo bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)          ## poll forever with ./sources.yaml, SQLite in ./data/
	mkdir -p data
	$(BIN)/quality-monitor run

once: $(STAMP)         ## one pass over every source, then exit
	mkdir -p data
	$(BIN)/quality-monitor run --once

test: $(STAMP)         ## the whole test suite (PostgreSQL tests skip when no server answers)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

demo: $(STAMP)         ## a local news site on 127.0.0.1 and one pass over it, console output
	$(BIN)/python -m tests.demo

bench: $(STAMP)        ## benchmarks, JSON on stdout
	$(BIN)/python -m bench.pipeline

clean:
	rm -rf $(VENV) data/*.db
