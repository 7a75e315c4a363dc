# rdshare: two commands do everything on a fresh machine.
#   make run    set up, then fit the shipped data with the default priors and write a report
#   make test   set up, then run the test suite
# PYTHON can be given to pick the interpreter: make PYTHON=/usr/bin/python3.12 test

VENV      ?= .venv
PYTHON    ?= $(shell scripts/find-python.sh)
STAMP     := $(VENV)/.installed
BIN       := $(VENV)/bin
RUN_ARGS  ?=

.PHONY: run test lint format bench sbc clean-venv help

help:
	@echo "make run    - set up and fit the shipped data with the default priors, writing a report"
	@echo "make test   - set up and run the tests (CI runs this)"
	@echo "make lint   - ruff check and format check"
	@echo "make bench  - performance benchmark (prints ratios against a plain pm.sample baseline)"
	@echo "make sbc    - full simulation-based calibration of the default model (200 fits)"

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "No Python >= 3.12 found; see the message above." >&2; exit 1; }
	@echo "Creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/rdshare fit $(RUN_ARGS)

test: $(STAMP)
	MPLBACKEND=Agg $(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_fit.py

sbc: $(STAMP)
	$(BIN)/rdshare sbc --sims 200 --workers 2

clean-venv:
	rm -rf $(VENV)
