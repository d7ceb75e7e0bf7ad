# ml-lifecycle: every target sets itself up. A fresh machine needs only Python 3.11 and Java 17+.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ROWS ?= 1000000
# `make serve`: the champion of the env's registered model (`model_name` in conf/<env>/globals.yml,
# read through Kedro's config: ENV=regression serves flight_delay_minutes; MODEL_NAME= another),
# the port, and the tracking store (the project's mlflow.db unless the shell names another).
SERVE_PORT ?= 5001
SERVE_TARGET = $(BIN)/python -m ml_lifecycle.tracking.serve_target $(if $(ENV),--env $(ENV)) $(if $(MODEL_NAME),--model-name $(MODEL_NAME))
SERVE_MODEL = $(or $(MODEL_NAME),$(shell $(SERVE_TARGET) --name 2>/dev/null))
MLFLOW_TRACKING_URI ?= sqlite:///$(CURDIR)/mlflow.db
# `make mlflow-ui`: the UI's port; a sqlite store's artifacts lie beside it, in mlruns/. One worker
# and no job runner (for GenAI evaluation jobs) start in seconds rather than a minute on 2 cores.
MLFLOW_PORT ?= 5000
MLFLOW_ARTIFACTS = $(abspath $(dir $(patsubst sqlite:///%,%,$(firstword $(subst ?, ,$(MLFLOW_TRACKING_URI))))))/mlruns

# `make viz`: kedro-viz's port (it takes none above 49151).
VIZ_PORT ?= 4141

# Kedro's telemetry plugin would otherwise ask (and try the network) on every command.
export KEDRO_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
# Python writes each module's .pyc on first import, into .venv: a shell that sets
# PYTHONDONTWRITEBYTECODE would have every process compile TF, MLflow and Spark anew (45.7 s
# against 19.6 s per import on 2 cores; uv, unlike pip, compiles nothing at install).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help install java run serve mlflow-ui check-ui check-ui-tune viz viz-build check-viz check-browser check-cluster check-faults check-scenarios check-all tune test test-e2e lint format layout bench bench-ingest bench-validate bench-input bench-scale bench-lifecycle bench-model lock clean-data

help:  ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' 2>/dev/null \
	  || { echo "ml-lifecycle needs Python 3.11 (found: $$($(PYTHON) --version 2>&1)). Set PYTHON=/path/to/python3.11." >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c requirements.lock pip uv
	@# uv installs the pinned set several times faster than pip (seconds once its cache is warm).
	$(BIN)/uv pip install --quiet --python $(BIN)/python -c requirements.lock -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP) java  ## Create .venv and install the pinned dependencies and the project

java:  ## Check that Java 17+ (needed by Spark) is installed
	@bash scripts/check_java.sh

run: install  ## The whole lifecycle on the bundled sample, then `make iterate` on the sample itself
	$(BIN)/kedro run
	$(BIN)/kedro iterate

.PHONY: iterate
iterate: install  ## Score a batch with the champion, drift, decide; retrain only when a trigger fires (ENV=, PARAMS=k=v,...)
	$(BIN)/kedro iterate $(if $(ENV),--env $(ENV)) $(if $(PARAMS),--params $(PARAMS))

tune: install  ## Optuna search of training keys on train/validation (resumable); writes conf/<ENV>/parameters_training_tuned.yml (ENV=local)
	$(BIN)/kedro run --pipelines tune $(if $(ENV),--env $(ENV)) $(if $(PARAMS),--params $(PARAMS))

serve: install  ## Serve the env's champion over HTTP: POST raw rows to /invocations (ENV=, SERVE_PORT=5001)
	@uri=$$(MLFLOW_TRACKING_URI="$(MLFLOW_TRACKING_URI)" $(SERVE_TARGET)) || exit 1; echo "Serving the champion, $$uri, on http://127.0.0.1:$(SERVE_PORT)"
	PATH="$(CURDIR)/$(BIN):$$PATH" MLFLOW_TRACKING_URI="$(MLFLOW_TRACKING_URI)" MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false $(BIN)/mlflow models serve -m "models:/$(SERVE_MODEL)@champion" --env-manager local --host 127.0.0.1 --port $(SERVE_PORT)

mlflow-ui: install  ## The MLflow UI over the tracking store, on http://127.0.0.1:5000 (MLFLOW_PORT=5000)
	@case "$(MLFLOW_TRACKING_URI)" in sqlite:///*) ;; *) echo "make mlflow-ui serves a sqlite store, not $(MLFLOW_TRACKING_URI) (a tracking server has its own UI)" >&2; exit 1;; esac
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=$${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false} $(BIN)/mlflow server --backend-store-uri "$(MLFLOW_TRACKING_URI)" --default-artifact-root "file://$(MLFLOW_ARTIFACTS)" --artifacts-destination "file://$(MLFLOW_ARTIFACTS)" --host 127.0.0.1 --port $(MLFLOW_PORT) --workers 1

check-ui: install  ## Two runs in a temporary store, checked in headless Chromium's MLflow UI (SCREENSHOTS=dir)
	MLFLOW_UI_KEDRO_RUNS=1 $(if $(SCREENSHOTS),MLFLOW_UI_SCREENSHOTS="$(SCREENSHOTS)") $(BIN)/pytest -m browser tests/browser/test_mlflow_ui.py

check-ui-tune: install  ## One real tune run's nested trials checked in headless Chromium's MLflow UI (docs/images/mlflow_tune.png)
	MLFLOW_TUNE_SCREENSHOT=docs/images/mlflow_tune.png $(BIN)/pytest -m browser tests/browser/test_mlflow_tune.py

viz: install  ## kedro-viz: every pipeline's DAG, layers, tags, namespaces on http://127.0.0.1:4141 (VIZ_PORT=4141)
	$(BIN)/kedro viz run --host 127.0.0.1 --port $(VIZ_PORT) --no-browser

viz-build: install  ## kedro-viz as a static site in build/ (open build/index.html over HTTP)
	$(BIN)/kedro viz build

check-viz: install  ## Every registered pipeline checked in headless Chromium's kedro-viz (docs/images/kedro_viz.png)
	KEDRO_VIZ_SCREENSHOT=docs/images/kedro_viz.png $(BIN)/pytest -m browser tests/browser/test_viz.py

check-browser: install  ## The browser tests (MLflow UI on a seeded store, kedro-viz); screenshots stay in /tmp (CI)
	$(BIN)/pytest -m browser tests/browser

test: install  ## Lint, then the fast tests: unit tests and in-process pipeline runs (minutes)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

test-e2e: install  ## The end-to-end tests: `kedro run` and the notebook in subprocesses (CI runs it)
	$(BIN)/pytest -m 'e2e and not cluster and not faults and not scenario and not browser'

check-cluster: install  ## The pipelines on a local Spark standalone cluster and Spark Connect (CI runs it)
	$(BIN)/pytest -m cluster

check-faults: install  ## kill -9 mid-write then rerun/--from-nodes, idempotent reruns, concurrent runs (CI)
	$(BIN)/pytest -m faults

# `make check-all`: the slow tiers in one pytest run on WORKERS processes, a test file each at a
# time (a module's fixture runs once). A subprocess `kedro run` leaves a core idle much of the
# time (imports, Spark's driver, small jobs), so two streams of them use both cores.
WORKERS ?= 2
check-all: install  ## The end-to-end, cluster, fault, scenario and browser tiers together on WORKERS=2 processes (CI)
	$(BIN)/pytest -m 'e2e or cluster or faults or scenario or browser' -n $(WORKERS) --dist loadfile

check-scenarios: install  ## Multi-run scenarios: lifecycle, then iterate on the same data and on a drifted batch (CI)
	$(BIN)/pytest -m scenario

lint: install  ## ruff check and format check only
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: install  ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

layout:  ## Rewrite the Layout tables of README.md and docs/layout.md from the docstrings
	$(PYTHON) scripts/layout.py

bench: bench-ingest bench-validate bench-input  ## Every benchmark

bench-ingest: install  ## Ingestion+cleaning: Kedro vs hand-tuned PySpark vs pandas (ROWS=1000000)
	$(BIN)/python benchmarks/ingest.py --rows $(ROWS)

bench-validate: install  ## GX validation of the flights suite vs one plain Spark pass (ROWS=1000000)
	@test -f data/03_primary/table.parquet/_SUCCESS || $(BIN)/kedro run --pipelines ingestion,cleaning
	$(BIN)/python benchmarks/validate.py --rows $(ROWS)

bench-input: install  ## Training fed by Parquet-streamed tf.data vs in-memory arrays (the sample)
	@test -f data/05_model_input/train.parquet/_SUCCESS || $(BIN)/kedro run --to-nodes make_model_input
	$(BIN)/python benchmarks/input_pipeline.py

bench-scale: install  ## Pipelines at 1/10/50 M synthetic rows: time, Python+JVM RSS (long, not in bench; SCALE_ARGS=--sizes ..)
	$(BIN)/python benchmarks/scaling.py $(SCALE_ARGS)

bench-lifecycle: install  ## Ingestion..features and ingestion+cleaning vs hand-written Spark on the same landing data, Spark jobs counted (long, not in bench; LIFECYCLE_ARGS=--sizes ..)
	$(BIN)/python benchmarks/lifecycle.py $(LIFECYCLE_ARGS)

bench-model: install  ## Model vs baseline, 3 seeds per task: flights time and random split, regression, generated orders untuned and tuned (long, not in bench; MODEL_ARGS=--tasks ..)
	$(BIN)/python benchmarks/model.py $(MODEL_ARGS)

lock:  ## Re-resolve the dependencies and rewrite requirements.lock
	rm -rf /tmp/ml-lifecycle-lock && $(PYTHON) -m venv /tmp/ml-lifecycle-lock
	/tmp/ml-lifecycle-lock/bin/pip install --quiet -e ".[dev]"
	{ head -n 2 requirements.lock; echo "pip==$$(/tmp/ml-lifecycle-lock/bin/pip --version | cut -d' ' -f2)"; \
	  /tmp/ml-lifecycle-lock/bin/pip freeze --exclude-editable | grep -v '^ml.lifecycle'; } > requirements.lock.new
	mv requirements.lock.new requirements.lock

clean-data:  ## Delete every generated dataset (keeps data/01_raw)
	find data -mindepth 1 -path 'data/01_raw' -prune -o -type f ! -name .gitkeep -print -delete
