# Modelyard: `make run` starts the whole platform on loopback, `make test` runs the suite.
# Both create the virtual environment (.venv) and install everything from PyPI.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PACKAGES := clients/python/pyproject.toml services/common/pyproject.toml services/metadata/pyproject.toml services/registry/pyproject.toml services/serving/pyproject.toml services/deploy/pyproject.toml services/console/pyproject.toml
PYTEST_ARGS ?=

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(STAMP): $(PACKAGES) tests/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r tests/requirements.txt \
		-e 'clients/python[sklearn,onnx,datasets]' -e 'services/common[embedded]' -e services/metadata \
		-e services/registry -e services/serving -e services/deploy -e services/console
	touch $@

venv: $(STAMP) ## Create the virtual environment and install the packages

run: $(STAMP) ## Start Postgres, Redis, SeaweedFS and every service on loopback (Ctrl-C stops all)
	$(VENV)/bin/modelyard-dev

test: $(STAMP) protos-check lint typecheck ## Check stubs, lint, types, then run the whole suite against real servers
	$(PY) -m pytest -c tests/pytest.ini tests $(PYTEST_ARGS)

test-unit: $(STAMP) ## Only the tests that need no server
	$(PY) -m pytest -c tests/pytest.ini tests/unit $(PYTEST_ARGS)

test-integration: $(STAMP) ## Only the tests against real stores and services
	$(PY) -m pytest -c tests/pytest.ini tests/integration $(PYTEST_ARGS)

e2e: $(STAMP) ## Only the SDK and CLI against the whole platform
	$(PY) -m pytest -c tests/pytest.ini tests/e2e $(PYTEST_ARGS)

protos: $(STAMP) ## Regenerate the Python stubs from protos/
	$(PY) clients/python/tools/generate_stubs.py

protos-check: $(STAMP) ## Fail if the committed stubs drift from protos/
	$(PY) clients/python/tools/generate_stubs.py --check

fmt: $(STAMP) ## Format the code
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

lint: $(STAMP) ## ruff check and ruff format --check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP) ## mypy over the hand-written code
	$(VENV)/bin/mypy

demo: $(STAMP) ## Against `make run`: train, register, push, deploy, predict, roll forward and back (examples/demo.py)
	MODELYARD_TOKEN="$${MODELYARD_TOKEN:-$$(cat .modelyard/admin-token 2>/dev/null)}" $(PY) examples/demo.py

screenshots: $(STAMP) ## Retake the pictures of docs/console.md from the console's browser tests (needs chromium)
	MODELYARD_SCREENSHOTS=docs/img/console MODELYARD_REQUIRE_BROWSER=1 $(PY) -m pytest -c tests/pytest.ini \
		tests/integration/auth -m browser -q -p no:cacheprovider

bench: $(STAMP) ## Run the benchmarks, metadata, artifacts, serving then console (prints figures; see docs/benchmarks.md)
	$(PY) bench/metadata/bench_metadata.py
	$(PY) bench/artifacts/bench_artifacts.py
	$(PY) bench/serving/bench_serving.py
	$(PY) bench/console/bench_console.py

bench-scaling: $(STAMP) ## Metadata get-by-alias throughput by process count, 1 to the cores (see docs/benchmarks.md)
	$(PY) bench/metadata/bench_scaling.py

bench-peers: $(STAMP) ## Modelyard side by side with MLflow 3 (installs MLflow into .bench/mlflow-venv; see docs/benchmarks.md)
	$(PY) bench/peers/bench_peers.py

clean: ## Remove the virtual environment and local data
	rm -rf $(VENV) .modelyard

.PHONY: help venv run test test-unit test-integration e2e protos protos-check fmt lint typecheck demo screenshots bench bench-scaling bench-peers clean
