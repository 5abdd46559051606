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

.PHONY: install run test test-fast lint reliability bench gauntlet clean airflow-e2e kfp-e2e tool-venvs

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -U pip setuptools wheel
	$(PIP_INSTALL) -e ".[dev]"
	# An editable install writes no .pyc; where PYTHONDONTWRITEBYTECODE is set (CI, some
	# containers) every process would compile Gristmill's sources again (~1 s per cold run).
	$(BIN)/python -m compileall -q components engine metadata orchestrator pipelines
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

# The orchestrators live in venvs of their own under build/ (their pins never touch ours);
# tests/e2e/dag_e2e.py runs the penguin pipeline through each and checks Gristmill's store.
AIRFLOW_VENV := build/airflow-venv
KFP_VENV := build/kfp-venv
TOOL_PIP := python -m pip install --disable-pip-version-check -q

$(AIRFLOW_VENV)/.installed:
	rm -rf $(AIRFLOW_VENV) && $(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/$(TOOL_PIP) "apache-airflow==3.3.2" \
		"apache-airflow-providers-standard==1.21.0"
	touch $@

$(KFP_VENV)/.installed:
	rm -rf $(KFP_VENV) && $(PYTHON) -m venv $(KFP_VENV)
	$(KFP_VENV)/bin/$(TOOL_PIP) "kfp==2.17.3"
	touch $@

# Both tool venvs; .ci/run builds them before `make test` so the compile tests that run a DAG
# through the real Airflow/kfp (tests/orchestrator/test_compile_*.py) run instead of skipping.
tool-venvs: $(AIRFLOW_VENV)/.installed $(KFP_VENV)/.installed

airflow-e2e: install $(AIRFLOW_VENV)/.installed
	$(BIN)/python tests/e2e/dag_e2e.py airflow --tool-venv $(AIRFLOW_VENV)

kfp-e2e: install $(KFP_VENV)/.installed
	$(BIN)/python tests/e2e/dag_e2e.py kfp --tool-venv $(KFP_VENV)

# 300 real datasets through the automatic pipeline (docs/gauntlet.md); resumable: results
# stay under $$TMPDIR/gristmill-gauntlet-full (GAUNTLET_ARGS=--fresh starts over).
# The last stdout line is the summary JSON.
GAUNTLET_ARGS ?=
gauntlet: install
	GRISTMILL_MLFLOW_MIRROR=off $(BIN)/python -m tests.gauntlet --write-docs docs/gauntlet.md $(GAUNTLET_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
