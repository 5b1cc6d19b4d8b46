# The two commands a new user needs:  make synth   and   make test
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CHECKOV_VENV := .venv-checkov
FLOOR_VENV := .venv-floor
BUILD_VENV := .venv-build
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true
PIP_QUIET := --quiet --disable-pip-version-check

.PHONY: synth test e2e integ integ-snapshots release-artifacts lint typecheck bench scale wheel clean

$(VENV)/.stamp-runtime: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(PIP_QUIET) --upgrade pip
	$(PY) -m pip install $(PIP_QUIET) -r requirements.txt
	touch $@

$(VENV)/.stamp-dev: $(VENV)/.stamp-runtime requirements-dev.txt
	$(PY) -m pip install $(PIP_QUIET) -r requirements-dev.txt
	touch $@

$(CHECKOV_VENV)/.stamp: requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install $(PIP_QUIET) -r requirements-checkov.txt
	touch $@

# The lowest aws-cdk-lib and constructs pyproject.toml allows (and the crhelper pin): tests/test_floor.py
# synthesizes the examples with them. Rebuilt only when pyproject.toml changes.
$(FLOOR_VENV)/.stamp: pyproject.toml tests/support/floor.py
	rm -rf $(FLOOR_VENV)
	$(PYTHON) -m venv $(FLOOR_VENV)
	$(FLOOR_VENV)/bin/pip install $(PIP_QUIET) $$($(PYTHON) tests/support/floor.py requirements)
	touch $@

# Only the build frontend: make wheel needs none of the development tools in .venv.
$(BUILD_VENV)/.stamp: requirements-build.txt
	rm -rf $(BUILD_VENV)
	$(PYTHON) -m venv $(BUILD_VENV)
	$(BUILD_VENV)/bin/pip install $(PIP_QUIET) -r requirements-build.txt
	touch $@

node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

## synth: set everything up and synthesize the example app into cdk.out/ (no AWS account needed)
synth: $(VENV)/.stamp-runtime node_modules/.stamp
	npx cdk synth --quiet --no-notices
	@echo "Template written to cdk.out/ForecastExportExample.template.json"

## test: set everything up and run the whole suite (construct, handler, lifecycle matrix, compliance, lint)
test: $(VENV)/.stamp-dev $(CHECKOV_VENV)/.stamp $(FLOOR_VENV)/.stamp node_modules/.stamp
	CHECKOV_BIN=$(CHECKOV_VENV)/bin/checkov FLOOR_PYTHON=$(FLOOR_VENV)/bin/python $(PY) -m pytest

## e2e: only the lifecycle fault matrix, one line per scenario (XFAIL: a known gap, see docs/SCENARIOS.md)
e2e: $(VENV)/.stamp-dev
	$(PY) -m pytest -m e2e -p no:logging -rA -q tests/test_lifecycle_matrix.py | grep -E '^(PASSED|FAILED|ERROR|XFAIL|XPASS) |^[0-9]+ (passed|failed)'

## integ: deploy tests/integ/integ_*.py to your account (CDK_INTEG_FORECAST_ARN and AWS credentials; README, Development)
integ: $(VENV)/.stamp-dev node_modules/.stamp
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m tests.integ.deploy $(INTEG_APPS)

## integ-snapshots: rewrite the committed snapshots of tests/integ (offline; make test verifies them)
integ-snapshots: $(VENV)/.stamp-dev
	$(PY) -m tests.integ.snapshots --update

## release-artifacts: rebuild tests/releases/<version>/ from git at the previous release's commit (tests/support/releases.py)
release-artifacts: $(VENV)/.stamp-dev
	$(PY) -m tests.support.releases

## lint: ruff on the whole repository
lint: $(VENV)/.stamp-dev
	$(PY) -m ruff check .

## typecheck: mypy --strict on the package as the wheel lays it out (the check tests/test_static.py runs)
typecheck: $(VENV)/.stamp-dev
	$(PY) -m pytest -q -p no:cacheprovider tests/test_static.py -k mypy

bench: $(VENV)/.stamp-dev
	$(PY) -m benchmarks.run
	$(PY) -m benchmarks.iam_sizes

## scale: many requests in flight on one provider on the local bed (issue 16; SCALE_STACKS x SCALE_EXPORTS, SCALE_MINUTES); writes docs/scale.md
scale: $(VENV)/.stamp-dev
	$(PY) -m benchmarks.scale

## wheel: build dist/cdk_forecast_export-<version>-py3-none-any.whl in a build-only venv (seconds)
wheel: $(BUILD_VENV)/.stamp
	$(BUILD_VENV)/bin/python -m build --wheel --outdir dist .

clean:
	rm -rf cdk.out dist build .pytest_cache .mypy_cache .ruff_cache
