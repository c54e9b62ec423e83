# The two commands of the quick start: `make run` and `make test`.
# Both create .venv and install what they need on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run once serve test lint demo bench bench-text bench-dedup bench-poll clean

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

serve: $(STAMP)        ## the dashboard, /healthz and /metrics on http://127.0.0.1:8080, no polling
	mkdir -p data
	$(BIN)/quality-monitor serve

test: $(STAMP)         ## the whole test suite (PostgreSQL tests skip when no server answers)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

demo: $(STAMP)         ## a local news site on 127.0.0.1 and one pass over it, console output
	$(BIN)/python -m tests.demo

bench: bench-text bench-dedup bench-poll   ## every benchmark, one JSON object each on stdout

bench-text: $(STAMP)   ## normalise + classify + summarise throughput, one core
	$(BIN)/python -m bench.text

bench-dedup: $(STAMP)  ## near-duplicate threshold study; check+insert at 10k/100k/1M stored
	$(BIN)/python -m bench.dedup

bench-poll: $(STAMP)   ## what an unchanged poll costs against a changed one (JSON)
	$(BIN)/python -m bench.poll_cost

clean:
	rm -rf $(VENV) data/*.db
