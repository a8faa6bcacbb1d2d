# Everything a user or CI runs goes through these targets; each bootstraps its own
# environment on first use from nothing but python3 (>= 3.11), git and make.
PYTHON ?= python3
BOOT   := .cache/bootstrap
UV     := $(BOOT)/bin/uv
VENV   := .venv
PY     := $(VENV)/bin/python
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: demo test lint typecheck unit bench env clean

demo: $(VENV)/.synced  ## run the main job: `tta demo`
	$(VENV)/bin/tta demo $(DEMO_ARGS)

test: $(VENV)/.synced lint typecheck unit  ## run the whole test suite (lint, types, tests)

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/tta lint packages examples benchmarks

# The examples are documentation: they type-check too (their compositions prove that
# >> accepts a step taking a wider input than the previous step returns).
typecheck: $(VENV)/.synced
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy examples/llm examples/agents examples/integrations

unit: $(VENV)/.synced
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.synced  ## print the benchmark figures (see benchmarks/README.md)
	$(PY) benchmarks/bench_primitives.py
	$(PY) benchmarks/bench_routing.py
	$(PY) benchmarks/bench_routing_sim.py
	$(PY) benchmarks/bench_routing_replay.py
	$(PY) benchmarks/bench_llm.py
	$(PY) benchmarks/bench_ledger.py
	$(PY) benchmarks/bench_database.py
	$(PY) benchmarks/bench_universal.py
	$(PY) benchmarks/bench_fleet.py
	$(PY) benchmarks/bench_redaction.py
	$(PY) benchmarks/bench_observability.py
	$(PY) benchmarks/bench_concurrency.py
	$(PY) benchmarks/bench_agent.py
	$(PY) benchmarks/bench_lint.py
	$(PY) benchmarks/bench_cli.py

env: $(VENV)/.synced

$(UV):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "TTA.dev needs Python >= 3.11; set PYTHON=python3.11 (or newer)")'
	$(PYTHON) -m venv $(BOOT)
	$(BOOT)/bin/pip install --quiet 'uv>=0.5'

$(VENV)/.synced: $(UV) pyproject.toml uv.lock $(wildcard packages/*/pyproject.toml)
	$(UV) sync --locked --all-packages --all-extras --python $(PYTHON)
	@touch $@

clean:
	rm -rf $(VENV) $(BOOT)
