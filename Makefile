# Two entry points for users: `make demo` and `make test`. Both set up from nothing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# the shared data and model folder: beside the checkout, else where this machine kind keeps it
SHARED ?= $(firstword $(wildcard $(abspath ../shared) /work/shared) $(abspath ../shared))
export PLUGMEM_EMBEDDING_MODEL_DIR ?= $(SHARED)/models/all-MiniLM-L6-v2/onnx
export PLUGMEM_DATA_DIR ?= $(SHARED)/data

.PHONY: setup demo test lint typecheck unit bench bench-quick clean

$(VENV)/.installed: pyproject.toml integrations/langgraph/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]" -e integrations/langgraph
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(PY) -m plugmem demo

lint: setup
	$(VENV)/bin/ruff check plugmem integrations benchmarks tests
	$(VENV)/bin/ruff format --check plugmem integrations benchmarks tests

typecheck: setup
	$(VENV)/bin/mypy plugmem integrations/langgraph/plugmem_langgraph benchmarks

unit: setup
	$(PY) -m pytest -q -p no:cacheprovider

test: lint typecheck unit

bench: setup
	$(PY) -m benchmarks

bench-quick: setup
	$(PY) -m benchmarks --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
