# Two commands for a fresh machine with Python 3.10+ and make:
#   make run   - create .venv, install, run the example pipeline
#   make test  - create/update .venv, run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The constraints file pins torch to the CPU build that installs offline here; any other
# torch version pulls gigabytes of CUDA packages.
PIP_INSTALL := $(BIN)/python -m pip install --disable-pip-version-check -q -c constraints.txt
STAMP := $(VENV)/.installed
PIPELINE ?= pipelines/penguin/pipeline.py

.PHONY: install run test test-fast lint reliability bench gauntlet clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -U pip setuptools wheel
	$(PIP_INSTALL) -e ".[dev]"
	touch $(STAMP)

run: install
	@if [ -f $(PIPELINE) ]; then $(BIN)/gristmill run $(PIPELINE); \
	else $(BIN)/gristmill run pipelines/hello/pipeline.py; fi

test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -ra --durations=15

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow and not e2e"

lint: install
	$(BIN)/ruff check .

reliability: install
	$(BIN)/python -m tests.reliability.run

bench: install
	$(BIN)/python bench/run.py all

# 300 real datasets through the automatic pipeline (docs/gauntlet.md); resumable: results
# stay under $$TMPDIR/gristmill-gauntlet-full (GAUNTLET_ARGS=--fresh starts over).
# The last stdout line is the summary JSON.
GAUNTLET_ARGS ?=
gauntlet: install
	GRISTMILL_MLFLOW_MIRROR=off $(BIN)/python -m tests.gauntlet --write-docs docs/gauntlet.md $(GAUNTLET_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
