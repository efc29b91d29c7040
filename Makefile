# Everything runs in a virtualenv made from the project's own files: on a fresh machine with
# Python 3.10+ and make, `make test` and `make demo` need nothing else.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
FLOOR_VENV ?= .venv-floor

.PHONY: venv test lint typecheck unit test-floor test-integration demo bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(UV) pip install --quiet --python $(BIN)/python -e '.[dev,charts]'
	touch $@

venv: $(VENV)/.installed

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

unit: venv
	$(BIN)/pytest -m "not integration"

test-integration: venv
	$(BIN)/pytest -m integration

# The oldest Airflow this provider supports (see pyproject.toml), in a second virtualenv, with
# every other package as it was when that release came out (what its users run).
FLOOR_DATE ?= 2025-09-10
test-floor: | $(BIN)/python
	test -x $(FLOOR_VENV)/bin/python || $(UV) venv --quiet --python $(BIN)/python $(FLOOR_VENV)
	$(UV) pip install --quiet --python $(FLOOR_VENV)/bin/python --exclude-newer $(FLOOR_DATE) \
		-e '.[dev]' -c constraints/floor.txt
	$(FLOOR_VENV)/bin/pytest -m "not integration" -p no:cacheprovider

test: lint typecheck
	$(BIN)/pytest

demo: venv
	$(BIN)/python -m airflow_provider_sesinsights.demo

bench: venv
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(FLOOR_VENV) .demo .pytest_cache .mypy_cache .ruff_cache
