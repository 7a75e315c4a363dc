# rdshare: two commands do everything on a fresh machine.
#   make run    set up, then fit the shipped data with the default priors and write a report
#   make test   set up, then run the test suite and check that a built wheel works outside the checkout
# PYTHON can be given to pick the interpreter: make PYTHON=/usr/bin/python3.12 test

VENV      ?= .venv
PYTHON    ?= $(shell scripts/find-python.sh)
STAMP     := $(VENV)/.installed
BIN       := $(VENV)/bin
RUN_ARGS  ?=
FUZZ_FACTOR ?= 50

.PHONY: run test pytest wheel-check lint format bench sbc fuzz clean-venv help

help:
	@echo "make run          - set up and fit the shipped data with the default priors, writing a report"
	@echo "make test         - set up, run the tests and the wheel check (CI runs this)"
	@echo "make wheel-check  - build a wheel, install it in a fresh venv outside the checkout, run it"
	@echo "make fuzz         - the property tests with random examples, $(FUZZ_FACTOR)x as many (by hand)"
	@echo "make lint         - ruff check and format check"
	@echo "make bench        - performance benchmark (prints ratios against a plain pm.sample baseline)"
	@echo "make sbc          - full simulation-based calibration of the default model (200 fits)"

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "No Python >= 3.12 found; see the message above." >&2; exit 1; }
	@echo "Creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/rdshare fit $(RUN_ARGS)

test: pytest wheel-check

# Generated (hypothesis) tests run derandomized here: the same examples every run.
pytest: $(STAMP)
	MPLBACKEND=Agg HYPOTHESIS_PROFILE=ci $(BIN)/python -m pytest

wheel-check: $(STAMP)
	scripts/check-wheel.sh

# Long randomised runs of the property tests, started by hand; a failure prints how to reproduce it.
fuzz: $(STAMP)
	MPLBACKEND=Agg HYPOTHESIS_PROFILE=fuzz RDSHARE_FUZZ_FACTOR=$(FUZZ_FACTOR) \
		$(BIN)/python -m pytest tests/core -m "not slow" -q -p no:cacheprovider

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
