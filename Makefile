# The README's two commands: `make demo` and `make test`.
# Each creates its own virtual environment (.venv) and installs what it needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO   ?= demo

.PHONY: demo test lint typecheck pytest test-slow test-peer bench-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev,spark]'
	# oracle tests compare with GrowthBook's gbstats; it pins numpy<2/pandas<2 but runs on
	# today's releases, so it is installed without its pins
	$(BIN)/pip install -q --no-deps 'gbstats==0.8.0'
	touch $@

# Benchmarks only: peers. gbstats pins numpy<2/pandas<2 but runs on today's
# releases, so it is installed without its pins.
bench-deps: $(VENV)/.installed
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/pip install -q --no-deps 'gbstats==0.8.0'

demo: $(VENV)/.installed
	$(BIN)/segab validate experiments
	$(BIN)/segab simulate journey_content --units 20000 --out $(DEMO) --quiet
	$(BIN)/segab assign journey_content --input $(DEMO)/population.csv --output $(DEMO)/assignments.csv --quiet
	$(BIN)/segab simulate journey_content --events-for $(DEMO)/assignments.csv --out $(DEMO) --quiet
	$(BIN)/segab analyze journey_content --exposures $(DEMO)/assignments.csv --events $(DEMO)/events.csv
	$(BIN)/segab analyze journey_content --exposures $(DEMO)/assignments.csv --events $(DEMO)/events.csv --format json --output $(DEMO)/results.json
	$(BIN)/segab analyze journey_content --exposures $(DEMO)/assignments.csv --events $(DEMO)/events.csv --format html --output $(DEMO)/report.html
	@echo "Demo done. Planted effects: $(DEMO)/truth.json; results: $(DEMO)/results.json"
	@echo "HTML report: $(CURDIR)/$(DEMO)/report.html"

lint: $(VENV)/.installed
	$(BIN)/ruff check segab tests analysis
	$(BIN)/ruff format --check segab tests analysis

typecheck: $(VENV)/.installed
	$(BIN)/mypy

pytest: $(VENV)/.installed
	$(BIN)/pytest -q

test: lint typecheck pytest

test-slow: $(VENV)/.installed
	$(BIN)/pytest -q -m slow

# oracle tests against GrowthBook's 2026 stats engine (packages/stats of a
# growthbook/growthbook checkout; not on PyPI): SEGAB_GBSTATS_PATH=/path/to/packages/stats
# (one process per file: each loads its own gbstats modules, and the PyPI 0.8.0 is installed)
test-peer: $(VENV)/.installed
	for f in $$(grep -rl "mark.peer" tests); do \
	  SEGAB_GBSTATS_PATH=$(SEGAB_GBSTATS_PATH) $(BIN)/pytest -q -m peer $$f || exit 1; done

clean:
	rm -rf $(VENV) $(DEMO) build *.egg-info
