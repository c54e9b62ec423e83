# The two commands of the quick start: `make run` and `make test`.
# Both create .venv and install what they need on first use: `make run` the
# project alone (`pip install -e .`), `make test` the project and its test
# tools (`pip install -e '.[test]'`); the runtime never gets pytest or ruff.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
VENV_MADE := $(VENV)/.created
RUNTIME   := $(VENV)/.installed-run
STAMP     := $(VENV)/.installed

.PHONY: run once serve test test-fast lint demo bench bench-text bench-dedup bench-poll bench-cycle \
        bench-pipeline bench-memory bench-delivery bench-detect bench-once bench-cycle-inprocess bench-latency clean

$(VENV_MADE):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	touch $(VENV_MADE)

$(RUNTIME): pyproject.toml $(VENV_MADE)
	$(BIN)/pip install --quiet -e .
	touch $(RUNTIME)

$(STAMP): pyproject.toml $(VENV_MADE)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(RUNTIME)        ## poll forever with ./sources.yaml, SQLite in ./data/
	mkdir -p data
	$(BIN)/quality-monitor run

once: $(RUNTIME)       ## one pass over every source, then exit
	mkdir -p data
	$(BIN)/quality-monitor run --once

serve: $(RUNTIME)      ## the dashboard, /healthz and /metrics on http://127.0.0.1:8080, no polling
	mkdir -p data
	$(BIN)/quality-monitor serve

test: $(STAMP)         ## the whole test suite (PostgreSQL tests skip when no server answers)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# A change checked in about a minute: the suite without the fault drills, the
# slow tests (whole `run` processes, long waits), the browser and PostgreSQL
# (SQLite stands in for both databases). CI runs `make test`. See docs/testing.md.
FAST := not drill and not slow and not browser and not postgres
test-fast: $(STAMP)    ## the suite less the drills, slow, browser and PostgreSQL tests (~1 min)
	$(BIN)/python -m pytest -q -m "$(FAST)" $(PYTEST_ARGS)

lint: $(STAMP)         ## ruff, then mypy --strict over monitor, storage and notifiers ([tool.mypy])
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

demo: $(STAMP)         ## a local news site on 127.0.0.1 and one pass over it, console output
	$(BIN)/python -m tests.demo

bench: bench-text bench-dedup bench-poll bench-pipeline bench-cycle bench-memory bench-delivery bench-detect  ## every benchmark, one JSON object each (about 25 min)

bench-text: $(STAMP)   ## normalise + classify + summarise throughput, one core
	$(BIN)/python -m bench.text

bench-dedup: $(STAMP)  ## near-duplicate threshold study; check+insert at 10k/100k/1M stored
	$(BIN)/python -m bench.dedup

bench-poll: $(STAMP)   ## what an unchanged poll costs against a changed one (JSON)
	$(BIN)/python -m bench.poll_cost

# requirements.lock: every runtime package (the `postgres` extra included, no test
# tools) pinned with its hashes, from which the image installs. Regenerate it after
# changing a dependency in pyproject.toml. pip-tools lives in its own venv.
.PHONY: lock
LOCK_VENV ?= /tmp/pip-tools-venv
$(LOCK_VENV)/bin/pip-compile:
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet pip-tools==7.6.2

lock: $(LOCK_VENV)/bin/pip-compile  ## regenerate requirements.lock from pyproject.toml
	CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/pip-compile --quiet \
	  --generate-hashes --allow-unsafe --strip-extras --extra postgres \
	  --no-emit-index-url --no-emit-find-links \
	  --output-file requirements.lock pyproject.toml

# lemon24/reader, the yardstick of bench-cycle: its own venv, never a dependency of ours
READER_VENV ?= /tmp/reader-venv
$(READER_VENV)/bin/python:
	$(PYTHON) -m venv $(READER_VENV)
	$(READER_VENV)/bin/pip install --quiet reader==3.26 sgmllib3k  # feedparser needs it; not always pulled in

bench-cycle: $(STAMP) $(READER_VENV)/bin/python  ## whole `run --once` passes, 2,000 feeds on 200 hosts and on one, beside reader (~4 min)
	$(BIN)/python -m bench.run_once --one-host --reader-python $(READER_VENV)/bin/python

bench-cycle-inprocess: $(STAMP) $(READER_VENV)/bin/python  ## in-process cycles (first, changed, unchanged) against reader
	$(BIN)/python -m bench.poll_cycle --reader-python $(READER_VENV)/bin/python

bench-once: $(STAMP)   ## whole `run --once` processes, 2,000 feeds on 200 hosts, first and unchanged pass
	$(BIN)/python -m bench.run_once

bench-latency: $(STAMP)  ## `run` mode: feed change -> post at 2,000 sources, interval 60 s (~10 min)
	$(BIN)/python -m bench.run_latency

bench-pipeline: $(STAMP)  ## CPU per new article, stage by stage, against feedparser.parse
	$(BIN)/python -m bench.pipeline_cost

bench-memory: $(STAMP)  ## peak RSS of `run` with 2,000 sources and 100,000 stored articles
	$(BIN)/python -m bench.memory

bench-detect: $(STAMP)  ## list detection on the fixture list pages: items found, cost against parsing
	$(BIN)/python -m bench.detect

bench-delivery: $(STAMP)  ## first seen → accepted by the Bot API, at 1 and 200 queued (~11 min)
	$(BIN)/python -m bench.delivery

clean:
	rm -rf $(VENV) data/*.db
