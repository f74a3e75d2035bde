# One virtual environment, installed on first use and refreshed when pyproject.toml changes.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(PY) -m pip

.PHONY: demo test lint bench bench-backward bench-dask browser clean help

help:
	@echo "make demo   - set up and run the article's example (handconv demo)"
	@echo "make test   - set up, lint (ruff, mypy) and run the whole test suite against live TensorFlow, PyTorch, JAX"
	@echo "make lint   - only ruff check and mypy"
	@echo "make bench  - set up and run the speed benchmarks (forward, backward, Dask)"
	@echo "make bench-backward - only the backward-pass benchmark (gradients vs TF and PyTorch)"
	@echo "make bench-dask - only the Dask section: throughput vs workers, memory vs chunk, against dask-image"

$(VENV)/.created:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q -U pip
	touch $@

# Everything a user of the demo needs: pictures and TensorFlow to compare with.
$(VENV)/.all: $(VENV)/.created pyproject.toml constraints.txt
	$(PIP) install -q -c constraints.txt -e '.[all]'
	touch $@

# The test extra adds pytest, hypothesis, playwright, notebook runners.
$(VENV)/.test: $(VENV)/.all
	$(PIP) install -q -c constraints.txt -e '.[test]'
	touch $@

# Headless Chromium for the interactive-page tests (Debian's package; never a downloaded browser).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q chromium; \
	  else echo "chromium is missing: apt-get install chromium"; fi; }

demo: $(VENV)/.all
	$(VENV)/bin/handconv demo

# Lint and types first: ruff check (config in pyproject.toml) and mypy (src/handconv).
lint: $(VENV)/.test
	$(VENV)/bin/ruff check src tests bench scripts
	$(VENV)/bin/ruff format --check src tests bench scripts
	$(VENV)/bin/mypy

test: lint browser
	$(PY) -m pytest

# BENCH_ARGS: e.g. make bench BENCH_ARGS="--quick --shapes S1,S4"
bench: $(VENV)/.test
	$(PY) bench/conv_bench.py $(BENCH_ARGS)
	$(PY) bench/backward_bench.py $(BACKWARD_BENCH_ARGS)
	$(PY) bench/dask_bench.py $(DASK_BENCH_ARGS)

# BACKWARD_BENCH_ARGS: e.g. make bench-backward BACKWARD_BENCH_ARGS="--quick --shapes S1,S6"
bench-backward: $(VENV)/.test
	$(PY) bench/backward_bench.py $(BACKWARD_BENCH_ARGS)

# DASK_BENCH_ARGS: e.g. make bench-dask DASK_BENCH_ARGS="--big 20000" (the 20000 x 20000 RGB run, slow)
bench-dask: $(VENV)/.test
	$(PY) bench/dask_bench.py $(DASK_BENCH_ARGS)

clean:
	rm -rf $(VENV) handconv-demo .pytest_cache .hypothesis
