# rdshare: two commands do everything on a fresh machine.
#   make run    set up, then fit the shipped data with the default priors and write a report
#   make test   set up, then run the test suite and check that a built wheel works outside the checkout
# PYTHON can be given to pick the interpreter: make PYTHON=/usr/bin/python3.12 test

VENV      ?= .venv
PYTHON    ?= $(shell scripts/find-python.sh)
STAMP     := $(VENV)/.installed
BIN       := $(VENV)/bin
# The real clients the export tests run (tests/clients): Squiggle's interpreter (npm, pinned in
# tests/clients/package-lock.json), Metaculus' forecasting-tools and LibreOffice Calc.
SQUIGGLE       := $(VENV)/squiggle
SQUIGGLE_STAMP := $(SQUIGGLE)/.installed
FORECASTING_TOOLS         := forecasting-tools==0.3.5
FORECASTING_TOOLS_DIR     := $(VENV)/forecasting-tools
FORECASTING_TOOLS_STAMP   := $(FORECASTING_TOOLS_DIR)/.installed-$(FORECASTING_TOOLS)
RUN_ARGS  ?=
FUZZ_FACTOR ?= 50

.PHONY: run test pytest clients libreoffice wheel-check lint format bench sbc fuzz clean-venv help

help:
	@echo "make run          - set up and fit the shipped data with the default priors, writing a report"
	@echo "make test         - set up, run the tests and the wheel check (CI runs this)"
	@echo "make wheel-check  - build a wheel, install it in a fresh venv outside the checkout, run it"
	@echo "make fuzz         - the property tests with random examples, $(FUZZ_FACTOR)x as many (by hand)"
	@echo "make lint         - ruff check and format check"
	@echo "make bench        - performance benchmark (prints ratios against a plain pm.sample baseline)"
	@echo "make sbc          - full simulation-based calibration of the default model (200 fits)"
	@echo "make clients      - install the real clients the export tests use (Squiggle, forecasting-tools, LibreOffice)"

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

# Squiggle's interpreter, exactly as locked, into .venv/squiggle (ignored by git, like all of .venv).
$(SQUIGGLE_STAMP): tests/clients/package.json tests/clients/package-lock.json
	@command -v npm >/dev/null || { echo "npm (Node.js >= 18) is needed for the Squiggle tests: install Node.js and npm" >&2; exit 1; }
	rm -rf $(SQUIGGLE)
	mkdir -p $(SQUIGGLE)
	cp tests/clients/package.json tests/clients/package-lock.json $(SQUIGGLE)/
	cd $(SQUIGGLE) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# forecasting-tools pulls in ~65 packages (LLM clients, boto3, ...) and pins pillow below 13, so only
# its code goes in, into its own folder; the tests import its CDF validation from there, which needs
# only pydantic and typeguard (in the dev extra).
$(FORECASTING_TOOLS_STAMP): $(STAMP)
	rm -rf $(FORECASTING_TOOLS_DIR)
	$(BIN)/python -m pip install --quiet --no-deps --target $(FORECASTING_TOOLS_DIR) '$(FORECASTING_TOOLS)'
	@touch $@

libreoffice:
	scripts/ensure-libreoffice.sh

clients: $(SQUIGGLE_STAMP) $(FORECASTING_TOOLS_STAMP) libreoffice

# Generated (hypothesis) tests run derandomized here: the same examples every run.
pytest: $(STAMP) clients
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
